"""The parts of the group coordinator that hold no I/O (:mod:`kafkapy.broker.group_coordinator` runs them).

- :mod:`.state`: the classic group states and the table of their transitions.
- :mod:`.group_offsets`: committed and transactional offsets, the part every group
  type shares (kept across a conversion between protocols).
- :mod:`.classic_group`: a classic group and its members (membership, protocol vote,
  member validation, what DescribeGroups shows).
- :mod:`.records`: the ``__consumer_offsets`` record formats (Kafka's key and value
  schemas behind an int16 version) and the replay of a partition's batches.
- :mod:`.consumer_group`: a KIP-848 consumer group, its members, and the
  reconciliation of a member towards its target assignment.
- :mod:`.assignors`: the server-side ``uniform`` and ``range`` assignors.
- :mod:`.modern_records`: what consumer and share groups' records share (encoding,
  tombstones, replay), each kind naming its record types and member fields.
- :mod:`.consumer_records`: the consumer groups' ``__consumer_offsets`` records.
- :mod:`.consumer_coordinator`: ConsumerGroupHeartbeat and ConsumerGroupDescribe on
  those parts; it writes through the group coordinator (which writes through the
  coordinator runtime) and keeps its timers on the group's shard.
- :mod:`.shard`: one ``__consumer_offsets`` partition on the coordinator runtime,
  every group kind in one shard loaded by one replay.
- :mod:`.timer`: keyed one-shot deadlines on one trio task (Kafka's ``CoordinatorTimer``).
- :mod:`.coordinator_topics`: which internal-topic partition owns a group or
  transactional id, and creating the internal topics on first use.
"""
