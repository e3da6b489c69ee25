"""Sans-I/O Kafka protocol: schemas, headers, messages, record batches, compression.

Nothing here imports trio or touches a socket: bytes in, typed messages out, and back.
"""
