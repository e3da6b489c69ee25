"""Streams groups (KIP-1071): the streams rebalance protocol on the coordinator runtime."""
