"""Request handlers, replica manager, purgatory, coordinators."""
