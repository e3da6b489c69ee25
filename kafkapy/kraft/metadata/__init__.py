"""Cluster metadata: the records of ``__cluster_metadata``, the immutable image brokers
read, the controller that turns requests into records, and the service that runs them
through the Raft quorum."""
