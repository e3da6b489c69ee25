"""Snapshots of the metadata log (KIP-630): ids, file names, content, and when to take one.

A snapshot is named by its id: the end offset (exclusive) and the epoch of the last
record it contains, ``<20-digit end offset>-<10-digit epoch>.checkpoint``; it is
written as ``.checkpoint.part`` and renamed when complete. Its content is the
state machine's records plus the voter set in force at its end offset; how that is
laid out in bytes is a :class:`SnapshotCodec` (Kafka's v2 record batches with a
header and footer control batch in files; any round-tripping layout in memory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from kafkapy.kraft.raft.messages import OffsetAndEpoch
from kafkapy.kraft.raft.voters import VoterSet

SNAPSHOT_SUFFIX = ".checkpoint"
PARTIAL_SUFFIX = ".checkpoint.part"
DELETED_SUFFIX = ".checkpoint.deleted"
_NAME = re.compile(r"^(\d{20})-(\d{10})\.checkpoint$")


def snapshot_file_name(snapshot_id: OffsetAndEpoch) -> str:
    return f"{snapshot_id.offset:020d}-{snapshot_id.epoch:010d}{SNAPSHOT_SUFFIX}"


def parse_snapshot_file_name(name: str) -> OffsetAndEpoch | None:
    """The id of a complete snapshot file name, or None for any other file."""
    match = _NAME.match(name)
    return OffsetAndEpoch(int(match.group(1)), int(match.group(2))) if match else None


class SnapshotContent(NamedTuple):
    """What a snapshot holds: header fields, the voters, the state machine's records."""

    snapshot_id: OffsetAndEpoch
    voters: VoterSet | None
    records: tuple[bytes, ...]
    kraft_version: int = 1
    last_contained_log_timestamp: int = -1


class SnapshotCodec(Protocol):
    def encode(self, content: SnapshotContent) -> bytes: ...

    def decode(self, data: bytes, snapshot_id: OffsetAndEpoch | None = None) -> SnapshotContent:
        """Read a snapshot; ``snapshot_id`` (from the file name) when the layout lacks it."""


@dataclass(slots=True)
class SnapshotPolicy:
    """When a node snapshots its state machine (Kafka's metadata log settings).

    ``max_bytes``: ``metadata.log.max.record.bytes.between.snapshots`` (20 MiB);
    ``max_interval_ms``: ``metadata.log.max.snapshot.interval.ms`` (1 hour). Only
    applied records count, and only a new applied offset is worth a snapshot.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_interval_ms: int = 3600 * 1000
    bytes_since: int = 0
    last_snapshot_ms: int = 0

    def record_applied(self, nbytes: int) -> None:
        self.bytes_since += nbytes

    def should_snapshot(self, now_ms: int) -> bool:
        if self.bytes_since <= 0:
            return False
        return self.bytes_since >= self.max_bytes or now_ms - self.last_snapshot_ms >= self.max_interval_ms

    def snapshot_taken(self, now_ms: int) -> None:
        self.bytes_since = 0
        self.last_snapshot_ms = now_ms
