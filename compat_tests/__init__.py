"""Compatibility matrix: stock Kafka clients run one scenario set against a live broker."""
