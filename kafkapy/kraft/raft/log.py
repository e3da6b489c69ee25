"""How the Raft core reads the replicated log, and the pending changes it has not
handed out yet.

The core never writes a log. It reads the stable log (what the caller has persisted)
through the read-only :class:`RaftLog` protocol, and keeps what it has decided but the
caller has not persisted yet in a :class:`LogView`: a pending snapshot install, a
pending truncation, and unstable entries after them (etcd's ``unstable``). ``ready()``
hands these out in that order: install the snapshot, truncate, append; ``advance()``
clears them.

Offsets follow Kafka: ``log_start_offset`` is the first offset in the log (the end
offset of the latest snapshot once the log before it is deleted), ``end_offset`` is
one past the last entry. The leader epoch cache (``leader-epoch-checkpoint``) is a list
of :class:`EpochEntry`, each the first offset written in an epoch.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from kafkapy.kraft.raft.errors import RaftInvariantError
from kafkapy.kraft.raft.messages import OffsetAndEpoch
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.voters import VoterSet

if TYPE_CHECKING:
    from kafkapy.kraft.raft.ready import Ready
    from kafkapy.kraft.raft.snapshot import SnapshotContent


class EpochEntry(NamedTuple):
    """One line of Kafka's leader epoch cache: ``epoch`` starts at ``start_offset``."""

    epoch: int
    start_offset: int


class RaftSnapshot(Protocol):
    """A complete snapshot (``<offset>-<epoch>.checkpoint``) as the core reads it."""

    @property
    def snapshot_id(self) -> OffsetAndEpoch: ...

    @property
    def size(self) -> int: ...

    @property
    def voters(self) -> VoterSet | None:
        """The voter set of the snapshot's ``VotersRecord``, or None without one."""

    def read(self, position: int, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of the snapshot file from ``position`` (FetchSnapshot)."""


class RaftLog(Protocol):
    """The persisted metadata log, read-only from the core's side."""

    @property
    def log_start_offset(self) -> int: ...

    @property
    def end_offset(self) -> int: ...

    def epoch_entries(self) -> Sequence[EpochEntry]:
        """The leader epoch cache for offsets in [log_start_offset, end_offset)."""

    def read(self, start: int, end: int) -> Sequence[LogEntry]:
        """Entries with offsets in [start, end); start >= log_start_offset."""

    def latest_snapshot(self) -> RaftSnapshot | None: ...


class PersistentRaftLog(RaftLog, Protocol):
    """A log the driver writes: applies Ready, reads snapshot content, snapshots, deletes."""

    def persist(self, ready: Ready) -> None:
        """Apply a Ready's snapshot install, truncation and entries, durably, in that order."""

    def snapshot_records(self, snapshot: RaftSnapshot) -> Sequence[bytes]:
        """The state machine's data records held in ``snapshot``."""

    def create_snapshot(self, content: SnapshotContent) -> RaftSnapshot: ...

    def delete_before_snapshot(self) -> int:
        """Delete the log before the latest snapshot; returns the entries removed."""


class SnapshotInstall(NamedTuple):
    """A snapshot downloaded by FetchSnapshot: write it, then restart the log at its end."""

    snapshot_id: OffsetAndEpoch
    data: bytes


class Validation(enum.Enum):
    VALID = "valid"
    DIVERGING = "diverging"
    SNAPSHOT = "snapshot"


class LogView:
    """The stable log plus the core's pending snapshot, truncation and entries.

    Invariants: ``truncate_to`` is None or <= the stable end offset; with a pending
    snapshot, ``truncate_to`` is None and the log is empty from the snapshot's end
    offset before the unstable entries; unstable entries have consecutive offsets
    starting at ``base_offset``.
    """

    __slots__ = ("snapshot", "stable", "truncate_to", "unstable")

    def __init__(self, stable: RaftLog) -> None:
        self.stable = stable
        self.snapshot: SnapshotInstall | None = None
        self.truncate_to: int | None = None
        self.unstable: list[LogEntry] = []

    # --- reading --------------------------------------------------------------------

    @property
    def base_offset(self) -> int:
        """The offset of the first unstable entry."""
        if self.snapshot is not None:
            return self.snapshot.snapshot_id.offset
        if self.truncate_to is not None:
            return self.truncate_to
        return self.stable.end_offset

    @property
    def log_start_offset(self) -> int:
        if self.snapshot is not None:
            return self.snapshot.snapshot_id.offset
        return self.stable.log_start_offset

    @property
    def end_offset(self) -> int:
        return self.base_offset + len(self.unstable)

    def latest_snapshot_id(self) -> OffsetAndEpoch | None:
        if self.snapshot is not None:
            return self.snapshot.snapshot_id
        snapshot = self.stable.latest_snapshot()
        return snapshot.snapshot_id if snapshot is not None else None

    def epoch_entries(self) -> list[EpochEntry]:
        base = self.base_offset
        if self.snapshot is not None:
            entries: list[EpochEntry] = []
        else:
            entries = [e for e in self.stable.epoch_entries() if e.start_offset < base]
        for entry in self.unstable:
            if not entries or entries[-1].epoch != entry.epoch:
                entries.append(EpochEntry(entry.epoch, entry.offset))
        return entries

    def last_fetched_epoch(self) -> int:
        """The epoch of the last entry, or of the snapshot when the log is empty; 0 if none."""
        if self.unstable:
            return self.unstable[-1].epoch
        if self.end_offset > self.log_start_offset:
            entries = self.epoch_entries()
            if entries:
                return entries[-1].epoch
        snapshot_id = self.latest_snapshot_id()
        return snapshot_id.epoch if snapshot_id is not None else 0

    def end_offset_and_epoch(self) -> OffsetAndEpoch:
        return OffsetAndEpoch(self.end_offset, self.last_fetched_epoch())

    def epoch_at(self, offset: int) -> int:
        """The epoch of the entry at ``offset`` (log_start_offset <= offset < end_offset)."""
        base = self.base_offset
        if offset >= base:
            return self.unstable[offset - base].epoch
        entries = self.epoch_entries()
        i = bisect.bisect_right([e.start_offset for e in entries], offset) - 1
        if i < 0:
            raise RaftInvariantError(f"no epoch for offset {offset}")
        return entries[i].epoch

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        """Kafka's ``endOffsetForEpoch``: the largest epoch <= ``epoch`` and where it ends.

        An epoch older than the snapshot answers with the snapshot id, so a follower
        that diverged before it truncates to the snapshot and then fetches it.
        """
        snapshot_id = self.latest_snapshot_id()
        if snapshot_id is not None and epoch < snapshot_id.epoch:
            return snapshot_id
        entries = self.epoch_entries()
        floor = None
        for i, entry in enumerate(entries):
            if entry.epoch > epoch:
                if floor is None:
                    break
                return OffsetAndEpoch(entry.start_offset, floor.epoch)
            floor = entry
        if floor is not None:
            return OffsetAndEpoch(self.end_offset, floor.epoch)
        if snapshot_id is not None:
            return snapshot_id
        return OffsetAndEpoch(self.log_start_offset, 0)

    def validate_offset_and_epoch(self, offset: int, epoch: int) -> tuple[Validation, OffsetAndEpoch]:
        """Kafka's ``validateOffsetAndEpoch`` for a follower's (fetch offset, last epoch)."""
        start = self.log_start_offset
        snapshot_id = self.latest_snapshot_id()
        if start == 0 and offset == 0:
            return Validation.VALID, OffsetAndEpoch(offset, epoch)
        # Send the snapshot when the fetch offset is below the log start, at it with
        # another epoch, or the last fetched epoch predates the snapshot (Kafka).
        if snapshot_id is not None and (
                offset < start or (offset == start and epoch != snapshot_id.epoch) or epoch < snapshot_id.epoch):
            return Validation.SNAPSHOT, snapshot_id
        end = self.end_offset_for_epoch(epoch)
        if end.offset < offset or end.epoch < epoch:
            return Validation.DIVERGING, end
        return Validation.VALID, OffsetAndEpoch(offset, epoch)

    def read(self, start: int, end: int) -> list[LogEntry]:
        """Entries in [start, end), stable then unstable."""
        base = self.base_offset
        out: list[LogEntry] = []
        if start < base:
            out.extend(self.stable.read(start, min(end, base)))
        if end > base:
            out.extend(self.unstable[max(start - base, 0):end - base])
        return out

    # --- pending changes ------------------------------------------------------------

    def append(self, entries: Sequence[LogEntry]) -> None:
        if entries and entries[0].offset != self.end_offset:
            raise RaftInvariantError(f"append at {entries[0].offset}, log ends at {self.end_offset}")
        self.unstable.extend(entries)

    def truncate(self, offset: int) -> None:
        """Remove entries at ``offset`` and after."""
        base = self.base_offset
        if offset >= base:
            del self.unstable[offset - base:]
            return
        if self.snapshot is not None or offset < self.stable.log_start_offset:
            raise RaftInvariantError(f"truncation to {offset} below the log start {self.log_start_offset}")
        self.unstable.clear()
        self.truncate_to = offset

    def install_snapshot(self, install: SnapshotInstall) -> None:
        self.snapshot = install
        self.truncate_to = None
        self.unstable.clear()

    def has_pending(self) -> bool:
        return bool(self.unstable) or self.truncate_to is not None or self.snapshot is not None

    def clear_pending(self) -> None:
        self.snapshot = None
        self.truncate_to = None
        self.unstable.clear()
