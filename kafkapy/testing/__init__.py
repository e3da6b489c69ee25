"""Running kafkapy inside tests: the pytest plugin and an in-process broker."""
