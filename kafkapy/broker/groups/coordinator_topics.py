"""Which internal-topic partition owns a key, and the internal topics themselves.

A group id is owned by one partition of ``__consumer_offsets`` and a transactional id
by one partition of ``__transaction_state``: ``Utils.abs(key.hashCode()) % partitions``
with Java's ``String.hashCode`` (UTF-16 code units), exactly as Kafka computes it, so a
data directory moves between kafkapy and Kafka with every group in the same place.
The coordinator of a key is the leader of its partition.

Both topics are created on first use (the first FindCoordinator), as Kafka's
``AutoTopicCreationManager`` does: ``offsets.topic.num.partitions`` /
``transaction.state.log.num.partitions`` partitions, compacted, with the replication
factor capped to the brokers alive (so a one-node cluster gets working groups with the
default of 3).

For the transaction coordinator: :func:`partition_for` with
``config.transaction_state_log_num_partitions`` and :data:`TRANSACTION_STATE_TOPIC`
says which partition a transactional id lives in; :func:`transaction_state_topic` is
the topic's creation spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

import trio

from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.replication_control import NewTopic
from kafkapy.kraft.metadata.topic_names import GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.config import BrokerConfig

__all__ = ["GROUP_METADATA_TOPIC", "TRANSACTION_STATE_TOPIC", "InternalTopic", "InternalTopics",
           "group_metadata_topic", "java_string_hash", "partition_for", "transaction_state_topic"]

#: How long FindCoordinator waits for an internal topic it asked the controller for.
CREATE_WAIT_S = 5.0


def java_string_hash(s: str) -> int:
    """Java's ``String.hashCode``: ``s[0]*31^(n-1) + ... + s[n-1]`` over UTF-16 code
    units, in 32-bit signed arithmetic."""
    h = 0
    data = s.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: str, num_partitions: int) -> int:
    """The internal-topic partition that owns ``key`` (Kafka's ``partitionFor``).

    ``Utils.abs`` maps Integer.MIN_VALUE to 0 rather than overflowing.
    """
    h = java_string_hash(key)
    return (0 if h == -(2**31) else abs(h)) % num_partitions


class InternalTopic(NamedTuple):
    """How an internal topic is created."""

    name: str
    num_partitions: int
    replication_factor: int
    configs: Mapping[str, str]


def group_metadata_topic(config: "BrokerConfig") -> InternalTopic:
    """``__consumer_offsets`` as Kafka creates it (``GroupCoordinator.groupMetadataTopicConfigs``)."""
    return InternalTopic(GROUP_METADATA_TOPIC, config.offsets_topic_num_partitions,
                         config.offsets_topic_replication_factor,
                         {"cleanup.policy": "compact", "compression.type": "producer",
                          "segment.bytes": str(config.offsets_topic_segment_bytes)})


def transaction_state_topic(config: "BrokerConfig") -> InternalTopic:
    """``__transaction_state`` as Kafka creates it (``TransactionLog``'s topic configs)."""
    return InternalTopic(TRANSACTION_STATE_TOPIC, config.transaction_state_log_num_partitions,
                         config.transaction_state_log_replication_factor,
                         {"cleanup.policy": "compact", "compression.type": "uncompressed",
                          "min.insync.replicas": str(config.transaction_state_log_min_isr),
                          "segment.bytes": str(config.transaction_state_log_segment_bytes),
                          "unclean.leader.election.enable": "false"})


class InternalTopics:
    """Creates internal topics once, however many requests ask at the same time."""

    def __init__(self, core: "BrokerCore") -> None:
        self.core = core
        self._creating: dict[str, trio.Event] = {}

    async def ensure(self, topic: InternalTopic) -> bool:
        """Create ``topic`` unless it exists; True once the image holds it.

        Waits at most :data:`CREATE_WAIT_S`; False means "not yet" (the caller answers
        COORDINATOR_NOT_AVAILABLE and the client retries).
        """
        core = self.core
        if core.image.topic(topic.name) is not None:
            return True
        creating = self._creating.get(topic.name)
        if creating is not None:
            with trio.move_on_after(CREATE_WAIT_S):
                await creating.wait()
            return core.image.topic(topic.name) is not None
        done = self._creating[topic.name] = trio.Event()
        try:
            alive = sum(1 for b in core.image.brokers.values() if not b.fenced)
            new = NewTopic(topic.name, num_partitions=topic.num_partitions,
                           replication_factor=max(1, min(topic.replication_factor, alive)),
                           configs=dict(topic.configs))
            with trio.move_on_after(CREATE_WAIT_S):
                await core.metadata.create_topics([new])
        except NotControllerError:
            pass
        finally:
            del self._creating[topic.name]
            done.set()
        return core.image.topic(topic.name) is not None
