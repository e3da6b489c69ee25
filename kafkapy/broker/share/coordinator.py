"""The share coordinator: share-partition state in ``__share_group_state`` (KIP-932,
Kafka's ``ShareCoordinatorShard``), a shard of the coordinator runtime.

A share-partition (group, topic id, partition) lives in partition
``partition_for("group:topicId:partition")`` of ``__share_group_state``
(``SharePartitionKey.asCoordinatorKey``, the topic id in Kafka's base64 form). Its
state is the state epoch, the leader epoch of the share-partition leader that last
wrote it, the start offset (SPSO) and the in-flight state batches.

Records (key and value an int16 version then the schema's message, value version 0):

* ``ShareSnapshot`` (key type 0): the whole state. Written by
  InitializeShareGroupState, and instead of an update once
  ``share.coordinator.snapshot.update.records.per.snapshot`` updates followed the last
  snapshot, so a reload replays at most that many updates per share-partition.
* ``ShareUpdate`` (key type 1): a WriteShareGroupState's start offset and batches,
  merged over the state: a batch replaces the offsets it covers, batches below the
  start offset are dropped.
* Tombstones of both keys: DeleteShareGroupState.

Fencing: a write with an older state epoch answers FENCED_STATE_EPOCH, an older
leader epoch FENCED_LEADER_EPOCH; a read with a newer leader epoch records it. A read
of a share-partition never initialized answers start offset -1 and state epoch 0
(the leader then resets it by ``share.auto.offset.reset``).

Not implemented: pruning the topic (``share.coordinator.state.topic.prune.interval.ms``)
and cold-partition snapshots.

Task-safety: trio thread only; the state changes only in :meth:`ShareCoordinatorShard.replay`.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from kafkapy.broker.coordinator.shard import CoordinatorError, CoordinatorResult, KeyValue, ShardContext
from kafkapy.broker.groups.classic_group import decode_versioned
from kafkapy.broker.share.partition import StateBatch
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.share_snapshot_key import ShareSnapshotKey
from kafkapy.wire.messages.share_snapshot_value import ShareSnapshotValue
from kafkapy.wire.messages.share_update_key import ShareUpdateKey
from kafkapy.wire.messages.share_update_value import ShareUpdateValue

SNAPSHOT = 0
UPDATE = 1
_VERSION = struct.Struct(">h")
#: ReadShareGroupState of a share-partition with no state (Kafka's PartitionFactory).
UNINITIALIZED_START_OFFSET = -1
DEFAULT_STATE_EPOCH = 0


class ShareKey(NamedTuple):
    group_id: str
    topic_id: bytes
    partition: int


def coordinator_key(group_id: str, topic_id: bytes, partition: int) -> str:
    """``SharePartitionKey.asCoordinatorKey``: what picks the state topic partition."""
    return f"{group_id}:{base64.urlsafe_b64encode(topic_id).decode().rstrip('=')}:{partition}"


@dataclass(slots=True)
class ShareState:
    """One share-partition's persisted state."""

    state_epoch: int = DEFAULT_STATE_EPOCH
    leader_epoch: int = -1
    start_offset: int = UNINITIALIZED_START_OFFSET
    snapshot_epoch: int = 0
    create_timestamp: int = 0
    write_timestamp: int = 0
    delivery_complete_count: int = -1
    batches: list[StateBatch] = field(default_factory=list)
    updates_since_snapshot: int = 0


def merge_batches(old: Iterable[StateBatch], new: Iterable[StateBatch], start_offset: int) -> list[StateBatch]:
    """``old`` overlaid with ``new`` (a new batch replaces the offsets it covers), without
    what lies below ``start_offset``; sorted, adjacent equal batches joined."""
    new = sorted(new)
    out: list[StateBatch] = []
    for b in old:
        pieces = [b]
        for n in new:
            cut = []
            for p in pieces:
                if n.last_offset < p.first_offset or n.first_offset > p.last_offset:
                    cut.append(p)
                    continue
                if p.first_offset < n.first_offset:
                    cut.append(p._replace(last_offset=n.first_offset - 1))
                if p.last_offset > n.last_offset:
                    cut.append(p._replace(first_offset=n.last_offset + 1))
            pieces = cut
        out.extend(pieces)
    out.extend(new)
    merged: list[StateBatch] = []
    for b in sorted(out):
        if b.last_offset < start_offset:
            continue
        if b.first_offset < start_offset:
            b = b._replace(first_offset=start_offset)
        if merged and merged[-1].last_offset + 1 == b.first_offset and merged[-1][2:] == b[2:]:
            merged[-1] = merged[-1]._replace(last_offset=b.last_offset)
        else:
            merged.append(b)
    return merged


def _key(record_type: int, key: ShareKey) -> bytes:
    cls = ShareSnapshotKey if record_type == SNAPSHOT else ShareUpdateKey
    return _VERSION.pack(record_type) + cls(group_id=key.group_id, topic_id=key.topic_id,
                                            partition=key.partition).to_bytes(0)


def snapshot_record(key: ShareKey, s: ShareState) -> KeyValue:
    V = ShareSnapshotValue
    value = V(snapshot_epoch=s.snapshot_epoch, state_epoch=s.state_epoch, leader_epoch=s.leader_epoch,
              start_offset=s.start_offset, delivery_complete_count=s.delivery_complete_count,
              create_timestamp=s.create_timestamp, write_timestamp=s.write_timestamp,
              state_batches=[V.StateBatch(first_offset=b.first_offset, last_offset=b.last_offset,
                                          delivery_state=b.delivery_state, delivery_count=b.delivery_count)
                             for b in s.batches])
    return _key(SNAPSHOT, key), _VERSION.pack(0) + value.to_bytes(0)


def update_record(key: ShareKey, *, snapshot_epoch: int, leader_epoch: int, start_offset: int,
                  delivery_complete_count: int, batches: Sequence[StateBatch]) -> KeyValue:
    V = ShareUpdateValue
    value = V(snapshot_epoch=snapshot_epoch, leader_epoch=leader_epoch, start_offset=start_offset,
              delivery_complete_count=delivery_complete_count,
              state_batches=[V.StateBatch(first_offset=b.first_offset, last_offset=b.last_offset,
                                          delivery_state=b.delivery_state, delivery_count=b.delivery_count)
                             for b in batches])
    return _key(UPDATE, key), _VERSION.pack(0) + value.to_bytes(0)


def _batches(items: Iterable[object]) -> list[StateBatch]:
    return [StateBatch(b.first_offset, b.last_offset, b.delivery_state, b.delivery_count)  # type: ignore[attr-defined]
            for b in items]


class ShareCoordinatorShard:
    """Share-partition states of one ``__share_group_state`` partition (see the module doc)."""

    def __init__(self, context: ShardContext) -> None:
        self.context = context
        self.states: dict[ShareKey, ShareState] = {}
        self.updates_per_snapshot: int = context.config.share_coordinator_snapshot_update_records_per_snapshot

    # --- replay ------------------------------------------------------------------------------

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        if len(key) < 2:
            return
        record_type = _VERSION.unpack_from(key)[0]
        if record_type not in (SNAPSHOT, UPDATE):
            return
        key_cls, value_cls = (ShareSnapshotKey, ShareSnapshotValue) if record_type == SNAPSHOT \
            else (ShareUpdateKey, ShareUpdateValue)
        k = key_cls.decode(memoryview(key), 2, 0)[0]
        share_key = ShareKey(k.group_id, k.topic_id, k.partition)
        if value is None:
            self.states.pop(share_key, None)
            return
        v = decode_versioned(value_cls, value)
        if record_type == SNAPSHOT:
            self.states[share_key] = ShareState(
                state_epoch=v.state_epoch, leader_epoch=v.leader_epoch, start_offset=v.start_offset,
                snapshot_epoch=v.snapshot_epoch, create_timestamp=v.create_timestamp,
                write_timestamp=v.write_timestamp, delivery_complete_count=v.delivery_complete_count,
                batches=merge_batches([], _batches(v.state_batches), v.start_offset))
            return
        s = self.states.get(share_key)
        if s is None:
            return  # an update without its snapshot (pruned): Kafka skips it too
        start = s.start_offset if v.start_offset == -1 else v.start_offset
        s.batches = merge_batches(s.batches, _batches(v.state_batches), start)
        s.start_offset = start
        s.leader_epoch = v.leader_epoch if v.leader_epoch >= 0 else s.leader_epoch
        s.delivery_complete_count = v.delivery_complete_count
        s.updates_since_snapshot += 1

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        pass

    def on_loaded(self) -> None:
        pass

    def on_unloaded(self) -> None:
        self.states.clear()

    # --- operations --------------------------------------------------------------------------

    def initialize(self, key: ShareKey, state_epoch: int, start_offset: int) -> CoordinatorResult[None]:
        """InitializeShareGroupState: a fresh snapshot; an older state epoch is fenced."""
        s = self.states.get(key)
        if s is not None and state_epoch < s.state_epoch:
            raise CoordinatorError(ErrorCode.FENCED_STATE_EPOCH)
        now = self.context.now_ms()
        # ShareGroupOffset.fromRequest: leader epoch 0, no delivery count for an unset start offset.
        fresh = ShareState(state_epoch=state_epoch, leader_epoch=0, start_offset=start_offset,
                           snapshot_epoch=(s.snapshot_epoch + 1) if s is not None else 0,
                           create_timestamp=now, write_timestamp=now,
                           delivery_complete_count=-1 if start_offset == -1 else 0)
        return CoordinatorResult([snapshot_record(key, fresh)], None)

    def write(self, key: ShareKey, *, state_epoch: int, leader_epoch: int, start_offset: int,
              delivery_complete_count: int, batches: Sequence[StateBatch]) -> CoordinatorResult[None]:
        """WriteShareGroupState: an update, or a snapshot every so many updates."""
        s = self.states.get(key)
        if s is not None:
            if state_epoch < s.state_epoch:
                raise CoordinatorError(ErrorCode.FENCED_STATE_EPOCH)
            if leader_epoch != -1 and leader_epoch < s.leader_epoch:
                raise CoordinatorError(ErrorCode.FENCED_LEADER_EPOCH)
        now = self.context.now_ms()
        if s is None or s.updates_since_snapshot >= self.updates_per_snapshot:
            base = s or ShareState(state_epoch=state_epoch, create_timestamp=now)
            start = base.start_offset if start_offset == -1 else start_offset
            snapshot = replace(base, state_epoch=max(state_epoch, base.state_epoch),
                               leader_epoch=leader_epoch if leader_epoch != -1 else base.leader_epoch,
                               start_offset=start, snapshot_epoch=base.snapshot_epoch + (s is not None),
                               write_timestamp=now, delivery_complete_count=delivery_complete_count,
                               batches=merge_batches(base.batches, batches, start), updates_since_snapshot=0)
            return CoordinatorResult([snapshot_record(key, snapshot)], None)
        return CoordinatorResult([update_record(key, snapshot_epoch=s.snapshot_epoch, leader_epoch=leader_epoch,
                                                start_offset=start_offset,
                                                delivery_complete_count=delivery_complete_count,
                                                batches=batches)], None)

    def read(self, key: ShareKey, leader_epoch: int) -> CoordinatorResult[ShareState]:
        """ReadShareGroupState: the state, recording a newer leader epoch; INVALID_REQUEST
        before InitializeShareGroupState (ShareCoordinatorShard.maybeGetReadStateError)."""
        s = self.states.get(key)
        if s is None:
            raise CoordinatorError(ErrorCode.INVALID_REQUEST, "Read operation on uninitialized share partition not allowed.")
        if leader_epoch != -1 and leader_epoch < s.leader_epoch:
            raise CoordinatorError(ErrorCode.FENCED_LEADER_EPOCH)
        if leader_epoch > s.leader_epoch:
            record = update_record(key, snapshot_epoch=s.snapshot_epoch, leader_epoch=leader_epoch, start_offset=-1,
                                   delivery_complete_count=s.delivery_complete_count, batches=[])
            return CoordinatorResult([record], replace(s, leader_epoch=leader_epoch, batches=list(s.batches)))
        return CoordinatorResult([], replace(s, batches=list(s.batches)))

    def summary(self, key: ShareKey) -> ShareState | None:
        """ReadShareGroupStateSummary: the state without its batches' detail."""
        return self.states.get(key)

    def delete(self, key: ShareKey) -> CoordinatorResult[None]:
        """DeleteShareGroupState: tombstones of the snapshot and update keys."""
        if key not in self.states:
            return CoordinatorResult([], None)
        return CoordinatorResult([(_key(SNAPSHOT, key), None), (_key(UPDATE, key), None)], None)
