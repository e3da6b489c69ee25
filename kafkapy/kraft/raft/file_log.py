"""The metadata log on disk: ``<metadata.log.dir>/__cluster_metadata-0``.

Layout, as Kafka's ``KafkaRaftLog`` keeps it: a partition log of the storage layer
(``<20-digit base offset>.log`` segments, indexes, ``leader-epoch-checkpoint``)
holding the entries as v2 batches (:mod:`kafkapy.kraft.raft.batches`); snapshots next
to it as ``<20-digit end offset>-<10-digit epoch>.checkpoint``, written as
``.checkpoint.part`` and renamed when complete; and the ``quorum-state`` file
(:mod:`kafkapy.kraft.raft.quorum_store`).

Every change the core hands out is on disk (fsynced) before :meth:`persist` returns.
The entries are also kept decoded in memory (the inherited :class:`MemoryLog`): the
metadata log is bounded by snapshotting, and the core reads it on every fetch.
Opening drops partial snapshots, restarts the log at the latest snapshot if the log
ends before it, and decodes the segments from the log start on.

A full disk: a reserve file next to the log (:mod:`kafkapy.kraft.raft.space_reserve`)
is given up when the filesystem runs short, at open and before each append, so a node
whose data filled the disk can still start and commit the deletion that frees it.

Not task-safe: owned by the node's driver.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence

from kafkapy.config import DEFAULT_LOG_CONFIG, LogConfig
from kafkapy.kraft.raft.batches import (
    KafkaSnapshotCodec,
    decode_entries,
    encode_entries,
)
from kafkapy.kraft.raft.memory_log import MemoryLog, MemorySnapshot
from kafkapy.kraft.raft.messages import OffsetAndEpoch
from kafkapy.kraft.raft.records import LogEntry
from kafkapy.kraft.raft.snapshot import (
    DELETED_SUFFIX,
    PARTIAL_SUFFIX,
    SnapshotContent,
    parse_snapshot_file_name,
    snapshot_file_name,
)
from kafkapy.kraft.raft.space_reserve import SpaceReserve
from kafkapy.storage.checkpoint import fsync_dir
from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.buffers import FileRegion
from kafkapy.wire.records import BATCH_HEADER_SIZE, iter_batches, read_batch_header

METADATA_TOPIC = "__cluster_metadata"
METADATA_PARTITION = 0
_READ_CHUNK = 8 << 20


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class FileRaftLog(MemoryLog):
    """The ``__cluster_metadata-0`` directory; build it with :meth:`open`."""

    def __init__(self, directory: str, partition_log: PartitionLog, codec: KafkaSnapshotCodec,
                 clock: Callable[[], int], reserve: SpaceReserve | None = None) -> None:
        super().__init__(codec)
        self.directory = directory
        self.partition_log = partition_log
        self._clock = clock
        self.reserve = reserve

    @classmethod
    def open(cls, metadata_log_dir: str, config: LogConfig = DEFAULT_LOG_CONFIG, *,
             clock: Callable[[], int] = _wall_clock_ms) -> FileRaftLog:
        """Open (recovering) or create the metadata log under ``metadata_log_dir``."""
        directory = os.path.join(metadata_log_dir, f"{METADATA_TOPIC}-{METADATA_PARTITION}")
        reserve = SpaceReserve(metadata_log_dir) if os.path.isdir(metadata_log_dir) else None
        if reserve is not None:
            reserve.release_if_short()  # recovery and the election write
        os.makedirs(directory, exist_ok=True)
        codec = KafkaSnapshotCodec()
        snapshots = []
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if name.endswith((PARTIAL_SUFFIX, DELETED_SUFFIX)):
                os.unlink(path)
            elif (snapshot_id := parse_snapshot_file_name(name)) is not None:
                snapshots.append(snapshot_id)
        latest = max(snapshots, default=None)
        now = clock()
        partition_log = PartitionLog.open(directory, METADATA_TOPIC, METADATA_PARTITION, config, now_ms=now,
                                          log_start_offset=latest.offset if latest else 0)
        log = cls(directory, partition_log, codec, clock, reserve or SpaceReserve(metadata_log_dir))
        if latest is not None:
            with open(os.path.join(directory, snapshot_file_name(latest)), "rb") as f:
                data = f.read()
            log._add_snapshot(MemorySnapshot(latest, data, codec.decode(data, latest).voters))
            if partition_log.log_end_offset < latest.offset:
                partition_log.truncate_fully_and_start_at(latest.offset, now_ms=now)
        start = max(partition_log.log_start_offset, latest.offset if latest else 0)
        log._start = start
        entries = [e for e in log._read_entries(start) if e.offset >= start]
        MemoryLog.append(log, entries)
        log.reserve.create_if_room()
        return log

    def _read_entries(self, start: int) -> list[LogEntry]:
        """The entries of the batches from the one holding ``start`` to the log end.

        The log is read ``_READ_CHUNK`` bytes at a time. A read of ``max_bytes`` may end
        inside a batch (as Kafka's ``FileRecords.slice`` does for a fetch); only the
        whole batches of a chunk are decoded, and the next read starts at the batch cut
        off. Keeping the cut-off bytes too put a torn copy of that batch in front of
        its whole copy: a log over 8 MiB failed to open with "record batch CRC
        mismatch" though every batch on disk was valid.
        """
        entries: list[LogEntry] = []
        offset = start
        while offset < self.partition_log.log_end_offset:
            info = self.partition_log.read(offset, _READ_CHUNK)
            if not info.records:
                break
            chunk = bytearray()
            for piece in info.records:
                if isinstance(piece, FileRegion):
                    chunk += os.pread(piece.fd, piece.length, piece.position)
                else:
                    chunk += piece
            batches = list(iter_batches(chunk))
            if not batches:
                break
            position, last = batches[-1]
            entries += decode_entries(bytes(chunk[:position + last.size]))
            offset = last.next_offset
        return entries

    # --- writing (each step durable before it returns) -----------------------------

    def append(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        now = self._clock()
        data = encode_entries(entries, now)
        if self.reserve is not None:
            self.reserve.release_if_short(len(data))
        self.partition_log.append_as_follower(data, now_ms=now)
        self.partition_log.flush(now)
        super().append(entries)

    def truncate_to(self, offset: int) -> None:
        """Cut at ``offset``; the partition log cuts at a batch start, so rewrite the rest.

        Raft may cut inside a batch (a later leader kept only part of an epoch); the
        entries of that batch below ``offset`` are appended again as a new batch.
        """
        now = self._clock()
        partition_log = self.partition_log
        if offset >= partition_log.log_end_offset:
            return super().truncate_to(offset)
        base = self._batch_base_offset(offset)
        kept = list(self.read(base, offset))
        partition_log.truncate_to(base, now_ms=now)
        if kept:
            partition_log.append_as_follower(encode_entries(kept, now), now_ms=now)
        partition_log.flush(now)
        super().truncate_to(offset)

    def _batch_base_offset(self, offset: int) -> int:
        """The base offset of the stored batch holding ``offset``."""
        info = self.partition_log.read(offset, BATCH_HEADER_SIZE)
        if not info.records:
            return offset
        piece = info.records[0]
        if isinstance(piece, FileRegion):
            head = os.pread(piece.fd, BATCH_HEADER_SIZE, piece.position)
        else:
            head = bytes(piece[:BATCH_HEADER_SIZE])
        return min(read_batch_header(head).base_offset, offset)

    def _write_snapshot_file(self, snapshot_id: OffsetAndEpoch, data: bytes) -> None:
        path = os.path.join(self.directory, snapshot_file_name(snapshot_id))
        partial = path[: -len(".checkpoint")] + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            # A full disk: the part written would hold the space until the next open.
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
        os.replace(partial, path)
        fsync_dir(self.directory)

    def install_snapshot(self, snapshot_id: OffsetAndEpoch, data: bytes) -> None:
        self._write_snapshot_file(snapshot_id, data)
        self.partition_log.truncate_fully_and_start_at(snapshot_id.offset, now_ms=self._clock())
        super().install_snapshot(snapshot_id, data)

    def create_snapshot(self, content: SnapshotContent) -> MemorySnapshot:
        snapshot = super().create_snapshot(content)
        self._write_snapshot_file(snapshot.snapshot_id, snapshot.data)
        return snapshot

    def delete_before_snapshot(self) -> int:
        latest = self.latest_snapshot()
        if latest is None:
            return 0
        offset = latest.snapshot_id.offset
        now = self._clock()
        partition_log = self.partition_log
        if offset > partition_log.log_end_offset:
            partition_log.truncate_fully_and_start_at(offset, now_ms=now)
        else:
            partition_log.maybe_increment_high_watermark(offset)
            partition_log.delete_records_before(offset, now_ms=now)
        # Segment files go file.delete.delay.ms after their removal, at a later call.
        partition_log.delete_pending_segments(now)
        for name in os.listdir(self.directory):
            snapshot_id = parse_snapshot_file_name(name)
            if snapshot_id is not None and snapshot_id != latest.snapshot_id:
                os.unlink(os.path.join(self.directory, name))
        return super().delete_before_snapshot()

    def close(self) -> None:
        self.partition_log.close(self._clock())
