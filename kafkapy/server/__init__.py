"""trio networking: listeners, connections, framing, dispatch."""
