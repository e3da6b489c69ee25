"""Committed and transactional offsets, which every group type keeps the same way.

Kafka keeps offsets apart from membership (``OffsetMetadataManager``): a group id's
offsets outlive a change of the group's protocol (an empty classic group converted
to a KIP-848 consumer group, and back) and a group record's tombstone. Here both
:class:`~kafkapy.broker.groups.classic_group.ClassicGroup` and
:class:`~kafkapy.broker.groups.consumer_group.ConsumerGroup` carry a
:class:`GroupOffsets` part, handed over on conversion.

Task-safety: used on the trio thread only.
"""

from __future__ import annotations

import dataclasses

TopicPartitionKey = tuple[str, int]


@dataclasses.dataclass(slots=True)
class OffsetAndMetadata:
    """A committed offset as ``OffsetCommitValue`` stores it; ``expire_timestamp`` None
    unless an old client gave a retention time (OffsetCommit v2-4)."""

    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int
    expire_timestamp: int | None = None


class GroupOffsets:
    """The offsets part of a group: committed ones, and staged ones per producer."""

    group_id: str

    def __init__(self) -> None:
        self.offsets: dict[TopicPartitionKey, OffsetAndMetadata] = {}
        #: producer id -> offsets staged by TxnOffsetCommit, visible once committed.
        self.pending_txn_offsets: dict[int, dict[TopicPartitionKey, OffsetAndMetadata]] = {}

    def has_pending_txn_offsets(self, tp: TopicPartitionKey) -> bool:
        return any(tp in staged for staged in self.pending_txn_offsets.values())

    def has_offsets(self) -> bool:
        return bool(self.offsets or self.pending_txn_offsets)

    def take_offsets(self, other: GroupOffsets) -> None:
        """Adopt ``other``'s offsets (a group converted to another protocol)."""
        self.offsets = other.offsets
        self.pending_txn_offsets = other.pending_txn_offsets
