"""Share groups (KIP-932, "queues for Kafka").

:mod:`.partition` is a share-partition's delivery state on the partition leader
(acquisition, acknowledgement, locks, delivery counts); the share-group shard and the
share coordinator run on :mod:`kafkapy.broker.coordinator`.
"""
