"""The coordinator runtime (Kafka 4's ``CoordinatorRuntime``): coordinator state as one
sans-I/O shard per internal-topic partition, loaded from its log on election, changed
only by replaying the records its operations write, with its own timers.

:mod:`.shard` says what a shard and an operation are; :mod:`.runtime` loads, unloads,
writes, defers answers until the high watermark and fires timers; :mod:`.parts` lets
each group kind of a ``__consumer_offsets`` shard see only its own part. The group
coordinator's shards (:mod:`kafkapy.broker.groups.shard`, with the share and streams
groups), the share coordinator (:mod:`kafkapy.broker.share`) and the transaction
coordinator (:mod:`kafkapy.broker.txn.shard`) run on it.
"""
