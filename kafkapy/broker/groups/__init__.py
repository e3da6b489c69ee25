"""The parts of the group coordinator that hold no I/O (:mod:`kafkapy.broker.group_coordinator` runs them).

- :mod:`.state`: the classic group states and the table of their transitions.
- :mod:`.classic_group`: a classic group and its members (membership, protocol vote,
  member validation, what DescribeGroups shows).
- :mod:`.records`: the ``__consumer_offsets`` record formats (Kafka's key and value
  schemas behind an int16 version) and the replay of a partition's batches.
- :mod:`.timer`: keyed one-shot deadlines on one trio task (Kafka's ``CoordinatorTimer``).
- :mod:`.coordinator_topics`: which internal-topic partition owns a group or
  transactional id, and creating the internal topics on first use.
"""
