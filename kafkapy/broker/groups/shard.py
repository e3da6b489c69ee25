"""One ``__consumer_offsets`` partition on the coordinator runtime: every group kind of
the partition in one shard (Kafka's ``GroupCoordinatorShard``), loaded by one replay.

The runtime replays the partition's log once into :class:`GroupCoordinatorShard`, which
hands each record to the part that owns its type (``GroupCoordinatorShard.replay``
dispatching on the key's record type):

* share groups' records (KIP-932) to the share part
  (:class:`~kafkapy.broker.share.group_shard.ShareGroupShard`);
* streams groups' records (KIP-1071) to the streams part
  (:class:`~kafkapy.broker.streams.group_shard.StreamsGroupShard`);
* classic groups', KIP-848 consumer groups' and offset records to
  :class:`LoadedGroups`, whose groups become the shard's ``groups`` once the log is
  replayed. Their operations are still the
  :class:`~kafkapy.broker.group_coordinator.GroupCoordinator`'s, which sees every
  shard's groups as one mapping (:class:`ShardGroups`), writes through the runtime and
  keeps its timers on the shards' (:class:`GroupTimers`).

Task-safety: trio thread only.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING

from kafkapy.broker.groups.classic_group import ClassicGroup, Member, OffsetAndMetadata, TopicPartitionKey
from kafkapy.broker.groups.consumer_group import ConsumerGroup
from kafkapy.broker.groups.consumer_records import ConsumerRecord
from kafkapy.broker.groups.consumer_records import replay as replay_consumer_record
from kafkapy.broker.groups.records import OffsetRecord, decode_record
from kafkapy.broker.groups.state import GroupState
from kafkapy.broker.share.group_records import RECORD_TYPES as SHARE_RECORD_TYPES
from kafkapy.broker.streams.records import RECORD_TYPES as STREAMS_RECORD_TYPES

if TYPE_CHECKING:
    from kafkapy.broker.coordinator.runtime import CoordinatorRuntime
    from kafkapy.broker.coordinator.shard import ShardContext, ShardTimer
    from kafkapy.broker.share.group_shard import ShareGroupShard
    from kafkapy.broker.streams.group_shard import StreamsGroupShard
    from kafkapy.wire.messages.group_metadata_value import GroupMetadataValue

_RECORD_TYPE = struct.Struct(">h")
Offsets = dict[TopicPartitionKey, OffsetAndMetadata]
Groups = dict[str, "ClassicGroup | ConsumerGroup"]


class LoadedGroups:
    """Classic and consumer groups and their offsets, as a partition's records build them
    (``GroupMetadataManager.replay`` and ``OffsetMetadataManager.replay``).

    Offsets are kept apart from group records, as Kafka keeps them: a group converted
    to the other protocol keeps its offsets across the tombstone.
    """

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.classic: dict[str, ClassicGroup] = {}
        self.consumer: dict[str, ConsumerGroup] = {}
        self.offsets: dict[str, Offsets] = {}
        #: producer id -> group id -> offsets its open transaction staged
        self.staged: dict[int, dict[str, Offsets]] = {}

    def replay(self, producer_id: int, key: bytes, value: bytes | None) -> None:
        """One record; ``producer_id`` >= 0 inside a transaction, where only offsets count.

        Raises:
            WireError, ValueError: the bytes do not decode.
        """
        rec = decode_record(key, value)
        if rec is None:
            return
        if producer_id >= 0:
            if isinstance(rec, OffsetRecord) and rec.value is not None:
                self.staged.setdefault(producer_id, {}).setdefault(rec.group_id, {})[
                    (rec.topic, rec.partition)] = rec.value
        elif isinstance(rec, OffsetRecord):
            if rec.value is None:
                self.offsets.get(rec.group_id, {}).pop((rec.topic, rec.partition), None)
                # A tombstone drops staged offsets too (OffsetMetadataManager.replay).
                for by_group in self.staged.values():
                    by_group.get(rec.group_id, {}).pop((rec.topic, rec.partition), None)
            else:
                self.offsets.setdefault(rec.group_id, {})[(rec.topic, rec.partition)] = rec.value
        elif isinstance(rec, ConsumerRecord):
            replay_consumer_record(self.consumer, rec)
        elif rec.value is None:
            self.classic.pop(rec.group_id, None)
        else:
            group = self.classic.get(rec.group_id) or self.classic.setdefault(
                rec.group_id, ClassicGroup(rec.group_id, self.now_ms))
            apply_group_metadata(group, rec.value)

    def end_transaction(self, producer_id: int, commit: bool) -> None:
        for group_id, committed in self.staged.pop(producer_id, {}).items():
            if commit:
                self.offsets.setdefault(group_id, {}).update(committed)

    def groups(self) -> Groups:
        """Every group of the partition with its offsets; a group id with offsets only is
        an empty classic group (assign() consumers, admin clients)."""
        groups: Groups = {**self.classic, **self.consumer}

        def group(group_id: str) -> ClassicGroup | ConsumerGroup:
            g = groups.get(group_id)
            if g is None:
                g = groups[group_id] = ClassicGroup(group_id, self.now_ms)
            return g

        for group_id, committed in self.offsets.items():
            if committed:
                group(group_id).offsets = committed
        for producer_id, by_group in self.staged.items():
            for group_id, pending in by_group.items():
                group(group_id).pending_txn_offsets[producer_id] = pending
        return groups


class GroupCoordinatorShard:
    """Every group kind of one ``__consumer_offsets`` partition (see the module doc).

    Args:
        context: the runtime's view of this partition.
        share, streams: the share and streams parts, on this shard's timer.
        adopt: starts the classic and consumer groups' timers once the log is replayed.
        release: answers their parked requests when the partition is unloaded.

    Attributes:
        groups: the partition's classic and consumer groups by id, with their offsets.
    """

    def __init__(self, context: ShardContext, *, share: ShareGroupShard, streams: StreamsGroupShard,
                 adopt: Callable[[int, Groups], None], release: Callable[[int, Groups], None]) -> None:
        self.context = context
        self.share = share
        self.streams = streams
        self.groups: Groups = {}
        self._adopt = adopt
        self._release = release
        #: what the replay builds until the groups are adopted
        self._loading: LoadedGroups | None = LoadedGroups(context.now_ms())

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        record_type = _RECORD_TYPE.unpack_from(key)[0] if len(key) >= 2 else -1
        if record_type in SHARE_RECORD_TYPES:
            self.share.replay(offset, producer_id, key, value)
        elif record_type in STREAMS_RECORD_TYPES:
            self.streams.replay(offset, producer_id, key, value)
        elif self._loading is not None:
            self._loading.replay(producer_id, key, value)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        if self._loading is not None:
            self._loading.end_transaction(producer_id, commit)

    def on_loaded(self) -> None:
        loading, self._loading = self._loading, None
        if loading is not None:
            self.groups = loading.groups()
            self._adopt(self.context.partition, self.groups)
        self.share.on_loaded()
        self.streams.on_loaded()

    def on_unloaded(self) -> None:
        self._release(self.context.partition, self.groups)
        self.groups = {}
        self.share.on_unloaded()
        self.streams.on_unloaded()


class ShardGroups(MutableMapping[str, "ClassicGroup | ConsumerGroup"]):
    """The classic and consumer groups of every loaded partition as one mapping by group
    id; each group lives in its partition's shard (:attr:`GroupCoordinatorShard.groups`),
    so it goes when the partition is unloaded.

    Raises:
        KeyError: also when adding a group whose partition is not loaded.
    """

    def __init__(self, runtime: CoordinatorRuntime[GroupCoordinatorShard], partition_for: Callable[[str], int]) -> None:
        self._runtime = runtime
        self._partition_for = partition_for

    def _of(self, group_id: str) -> Groups:
        shard = self._runtime.shard(self._partition_for(group_id))
        if shard is None:
            raise KeyError(group_id)
        return shard.groups

    def __getitem__(self, group_id: str) -> ClassicGroup | ConsumerGroup:
        return self._of(group_id)[group_id]

    def __setitem__(self, group_id: str, group: ClassicGroup | ConsumerGroup) -> None:
        self._of(group_id)[group_id] = group

    def __delitem__(self, group_id: str) -> None:
        del self._of(group_id)[group_id]

    def __iter__(self) -> Iterator[str]:
        for shard in self._runtime.shards():
            yield from list(shard.groups)

    def __len__(self) -> int:
        return sum(len(shard.groups) for shard in self._runtime.shards())


class GroupTimers:
    """The classic and consumer groups' timer keys (``("heartbeat", group, member)``,
    ``("join", group)``, ``("consumer-session", group, member)``, ...: the group id
    second) on the shard timer of their group's partition, so unloading a partition
    cancels them with the shard (Kafka's ``CoordinatorTimer`` per shard). A key of a
    partition not loaded is not scheduled.

    Args:
        runtime: the ``__consumer_offsets`` runtime.
        partition_for: the partition of a group id.
    """

    def __init__(self, runtime: CoordinatorRuntime[GroupCoordinatorShard], partition_for: Callable[[str], int]) -> None:
        self._runtime = runtime
        self._partition_for = partition_for

    def _timer(self, key: tuple[str, ...]) -> ShardTimer | None:
        shard = self._runtime.shard(self._partition_for(key[1]))
        return None if shard is None else shard.context.timer

    def schedule(self, key: tuple[str, ...], delay_ms: int, callback: Callable[[], None]) -> None:
        timer = self._timer(key)
        if timer is not None:
            timer.schedule(key, delay_ms, lambda _shard: callback())

    def cancel(self, key: tuple[str, ...]) -> None:
        timer = self._timer(key)
        if timer is not None:
            timer.cancel(key)

    def __contains__(self, key: tuple[str, ...]) -> bool:
        timer = self._timer(key)
        return timer is not None and timer.is_scheduled(key)


def apply_group_metadata(group: ClassicGroup, value: GroupMetadataValue) -> None:
    """Replay a GroupMetadataValue: membership and generation as last stored."""
    group.protocol_type = value.protocol_type or None
    group.generation_id = value.generation
    group.protocol_name = value.protocol or None
    group.leader_id = value.leader or None
    group.current_state_timestamp = value.current_state_timestamp if value.current_state_timestamp >= 0 else None
    group.members = {}
    group.static_members = {}
    for m in value.members:
        member = Member(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                        m.rebalance_timeout if m.rebalance_timeout >= 0 else m.session_timeout, m.session_timeout,
                        group.protocol_type or "", [(group.protocol_name or "", bytes(m.subscription))])
        member.assignment = bytes(m.assignment)
        group.members[m.member_id] = member
        if m.group_instance_id is not None:
            group.static_members[m.group_instance_id] = m.member_id
    group.state = group.previous_state = GroupState.STABLE if group.members else GroupState.EMPTY
