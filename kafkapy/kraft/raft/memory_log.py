"""An in-memory :class:`~kafkapy.kraft.raft.log.RaftLog` with the write side a caller needs.

Used by the simulation and unit tests; its semantics are the file log's: entries from
``log_start_offset``, a leader epoch cache, snapshots by id with the log before the
latest one deletable. Not task-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from kafkapy.kraft.raft.errors import RaftInvariantError
from kafkapy.kraft.raft.log import EpochEntry
from kafkapy.kraft.raft.messages import OffsetAndEpoch
from kafkapy.kraft.raft.ready import Ready
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.snapshot import SnapshotCodec, SnapshotContent
from kafkapy.kraft.raft.voters import VoterSet


class MemorySnapshot(NamedTuple):
    snapshot_id: OffsetAndEpoch
    data: bytes
    voters: VoterSet | None

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, position: int, max_bytes: int) -> bytes:
        return self.data[position:position + max_bytes]


class MemoryLog:
    """Entries in a list, the epoch cache beside them, snapshots in a dict."""

    def __init__(self, codec: SnapshotCodec) -> None:
        self.codec = codec
        self._start = 0
        self._entries: list[LogEntry] = []
        self._epochs: list[EpochEntry] = []
        self._snapshots: dict[OffsetAndEpoch, MemorySnapshot] = {}
        self._latest: MemorySnapshot | None = None

    # --- RaftLog --------------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._start

    @property
    def end_offset(self) -> int:
        return self._start + len(self._entries)

    def epoch_entries(self) -> Sequence[EpochEntry]:
        return self._epochs

    def read(self, start: int, end: int) -> Sequence[LogEntry]:
        if start < self._start:
            raise RaftInvariantError(f"read from {start} below the log start {self._start}")
        return self._entries[start - self._start:end - self._start]

    def latest_snapshot(self) -> MemorySnapshot | None:
        return self._latest

    # --- writing --------------------------------------------------------------------

    def append(self, entries: Sequence[LogEntry]) -> None:
        for entry in entries:
            if entry.offset != self.end_offset:
                raise RaftInvariantError(f"append at {entry.offset}, log ends at {self.end_offset}")
            if not self._epochs or self._epochs[-1].epoch != entry.epoch:
                if self._epochs and entry.epoch < self._epochs[-1].epoch:
                    raise RaftInvariantError(f"epoch {entry.epoch} after {self._epochs[-1].epoch}")
                self._epochs.append(EpochEntry(entry.epoch, entry.offset))
            self._entries.append(entry)

    def truncate_to(self, offset: int) -> None:
        if offset < self._start:
            raise RaftInvariantError(f"truncation to {offset} below the log start {self._start}")
        del self._entries[offset - self._start:]
        while self._epochs and self._epochs[-1].start_offset >= offset:
            self._epochs.pop()

    def install_snapshot(self, snapshot_id: OffsetAndEpoch, data: bytes) -> None:
        """Keep a downloaded snapshot and restart the (emptied) log at its end offset."""
        content = self.codec.decode(data, snapshot_id)
        if content.snapshot_id != snapshot_id:
            raise RaftInvariantError(f"snapshot {snapshot_id} holds {content.snapshot_id}")
        self._add_snapshot(MemorySnapshot(snapshot_id, data, content.voters))
        self._entries.clear()
        self._epochs.clear()
        self._start = snapshot_id.offset

    def create_snapshot(self, content: SnapshotContent) -> MemorySnapshot:
        """Write a snapshot of the local state machine at a committed offset."""
        snapshot_id = content.snapshot_id
        if not self._start <= snapshot_id.offset <= self.end_offset:
            raise RaftInvariantError(f"snapshot at {snapshot_id.offset} outside the log")
        snapshot = MemorySnapshot(snapshot_id, self.codec.encode(content), content.voters)
        self._add_snapshot(snapshot)
        return snapshot

    def _add_snapshot(self, snapshot: MemorySnapshot) -> None:
        self._snapshots[snapshot.snapshot_id] = snapshot
        if self._latest is None or snapshot.snapshot_id.offset >= self._latest.snapshot_id.offset:
            self._latest = snapshot

    def delete_before_snapshot(self) -> int:
        """Delete the log and older snapshots before the latest snapshot; entries removed."""
        if self._latest is None:
            return 0
        offset = self._latest.snapshot_id.offset
        removed = max(0, min(offset, self.end_offset) - self._start)
        if offset > self.end_offset:
            self._entries.clear()
        else:
            del self._entries[:offset - self._start]
        self._start = max(self._start, offset)
        kept = [e for e in self._epochs if e.start_offset >= offset]
        older = [e for e in self._epochs if e.start_offset < offset]
        if older and self._entries and (not kept or kept[0].start_offset > offset):
            kept.insert(0, EpochEntry(older[-1].epoch, offset))
        self._epochs = kept
        self._snapshots = {self._latest.snapshot_id: self._latest}
        return removed

    def snapshot_records(self, snapshot: MemorySnapshot) -> Sequence[bytes]:
        return self.codec.decode(snapshot.data, snapshot.snapshot_id).records

    def persist(self, ready: Ready) -> None:
        """Apply a Ready's log changes in order: snapshot, truncation, entries."""
        if ready.snapshot is not None:
            self.install_snapshot(ready.snapshot.snapshot_id, ready.snapshot.data)
        if ready.truncate_to is not None:
            self.truncate_to(ready.truncate_to)
        if ready.entries:
            self.append(ready.entries)
