"""Operator tools behind ``kafkapy`` sub-commands (Kafka's ``bin/kafka-*.sh`` equivalents)."""
