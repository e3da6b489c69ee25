"""The KRaft metadata layer: a sans-I/O Raft core, its trio driver, metadata records and image."""
