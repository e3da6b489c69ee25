"""kafkapy: a Kafka wire-protocol compatible broker on trio."""

__version__ = "0.1.0"
