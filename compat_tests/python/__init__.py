"""Scenario drivers for the Python client families (each runs as its own process)."""
