"""All partition logs of one data directory (Kafka's ``LogManager``, one ``log.dirs`` entry).

Layout of a data directory::

    meta.properties                     version=1, cluster.id, node.id, directory.id
    .kafka_cleanshutdown                present only between a clean close and the next open
    recovery-point-offset-checkpoint    "0", count, "<topic> <partition> <offset>" lines
    log-start-offset-checkpoint         same format
    replication-offset-checkpoint       same format: high watermarks
    cleaner-offset-checkpoint           same format: where each compacted log is dirty
    <topic>-<partition>/                one PartitionLog each
    <topic>-<partition>.<uuid>-delete/  a deleted partition, removed after file.delete.delay.ms

The broker drives the periodic work by calling, with its clock: :meth:`cleanup_logs`
(retention and removal of deleted files, ``log.retention.check.interval.ms``),
:meth:`flush_dirty_logs` (``flush.ms``), :meth:`clean_logs` (compaction) and
:meth:`checkpoint` (``log.flush.offset.checkpoint.interval.ms``). Nothing here reads a
clock or starts a thread. With no directory, logs live in memory.

File descriptors. A log holds one descriptor per segment, its ``.log`` file (as in
Kafka, whose memory-mapped indexes hold none; see :mod:`kafkapy.storage.index`).
Opening the data directory warns when ``RLIMIT_NOFILE`` leaves too little room for
the segments found there. Running out (EMFILE, ENFILE) is an I/O error of the one
operation that hit it: creating or opening a log raises :class:`StorageError`
(KAFKA_STORAGE_ERROR) and leaves no descriptor behind, a log that failed to open at
start is opened again when the broker next asks for it (from its checkpointed
offsets, and recovered), and a checkpoint that cannot be written is logged and
written again next time.

Directory failure (Kafka's ``LogManager.handleLogDirFailure``). Any other I/O error
(ENOSPC, EIO, EROFS, EFBIG) in a log or a checkpoint of this directory reports it to
:attr:`LogManager.failure_channel`; the broker's handler then calls
:meth:`LogManager.handle_log_dir_failure`, which takes every log here offline. From
then on no log is created here, no checkpoint written and no shutdown marked clean;
reads are refused by the broker (KAFKA_STORAGE_ERROR). Deleting a partition still
removes its files, so an operator can free space on a full disk. The directory comes
back online when the process restarts, as in Kafka. A failure while opening the
directory at start (``meta.properties`` or a log that cannot be recovered on a full
disk) takes it offline the same way and start-up goes on.

Not task-safe: called only by the broker's storage owner.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import shutil
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from kafkapy.config import DEFAULT_LOG_CONFIG, LogConfig
from kafkapy.storage.checkpoint import (
    LOG_START_OFFSET_CHECKPOINT,
    META_PROPERTIES,
    RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
    fsync_dir,
    leader_epoch_checkpoint_text,
    new_directory_id,
    read_meta_properties,
    read_offset_checkpoint,
    write_all_atomically,
    write_atomically,
    write_meta_properties,
    write_offset_checkpoint,
)
from kafkapy.storage.errors import StorageError
from kafkapy.storage.local_log import is_delete_dir, log_dir_name, parse_log_dir_name
from kafkapy.storage.log_dir_failure import OUT_OF_DESCRIPTORS, LogDirFailureChannel, is_directory_failure
from kafkapy.storage.partition_log import PartitionLog
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.storage.cleaner import CleanerStats

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
CLEANER_OFFSET_CHECKPOINT = "cleaner-offset-checkpoint"
META_PROPERTIES_VERSION = "1"

TopicPartition = tuple[str, int]

logger = logging.getLogger(__name__)

#: Descriptors a node needs besides its segments (connections, listeners, the metadata
#: log, checkpoint and snapshot writes), for the warning at start.
DESCRIPTOR_HEADROOM = 256


@dataclasses.dataclass(frozen=True, slots=True)
class _Unopened:
    """A log found at start that could not be opened: its checkpointed offsets."""

    recovery_point: int
    log_start_offset: int
    high_watermark: int
    cleaner_checkpoint: int


def open_files_limit() -> int:
    """The soft ``RLIMIT_NOFILE`` of this process (``resource.RLIM_INFINITY`` if none)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


#: KRaft's metadata log sits in the (first) data directory as in Kafka, but it is the
#: Raft layer's log, not a topic partition: the log manager leaves it alone.
METADATA_LOG_DIR_NAME = "__cluster_metadata-0"

class LogManager:
    """The logs of one data directory (or of memory); see the module doc.

    Attributes:
        directory_id: this directory's ``directory.id`` (None in memory).
    """

    def __init__(
        self,
        data_dir: str | None,
        *,
        config_for: Callable[[str], LogConfig] | None = None,
        producer_id_expiration_ms: int = 86_400_000,
    ) -> None:
        self.data_dir = data_dir
        self.config_for = config_for or (lambda topic: DEFAULT_LOG_CONFIG)
        self.producer_id_expiration_ms = producer_id_expiration_ms
        self.logs: dict[TopicPartition, PartitionLog] = {}
        self.directory_id: str | None = None
        self._pending_dir_deletes: list[tuple[int, str, PartitionLog]] = []
        #: logs on disk that failed to open at start (EMFILE...), opened on demand
        self._unopened: dict[TopicPartition, _Unopened] = {}
        #: where this directory's I/O errors are reported (Kafka's LogDirFailureChannel)
        self.failure_channel = LogDirFailureChannel()
        #: logs opened at start and closed at shutdown at a time (num.recovery.threads.per.data.dir)
        self.recovery_threads = 1

    @property
    def offline(self) -> bool:
        """Whether this directory failed (and stays offline until the process restarts)."""
        return self.failure_channel.has_offline_log_dir(self.data_dir)

    def report_failure(self, what: str, exc: OSError) -> None:
        """An I/O error of ``what`` in this directory: it goes offline unless the error is
        running out of descriptors."""
        if self.data_dir is not None and is_directory_failure(exc):
            self.failure_channel.maybe_add_offline_log_dir(self.data_dir, what, exc)

    def _attach(self, partition_log: PartitionLog) -> PartitionLog:
        partition_log.on_dir_failure = self.report_failure
        return partition_log

    def handle_log_dir_failure(self) -> list[TopicPartition]:
        """Take every log of this failed directory offline (Kafka's
        ``LogManager.handleLogDirFailure``); returns their partitions.

        Kafka halts the broker here when no log directory is left online ("Shutdown
        broker because all log dirs ... have failed"). kafkapy does not: issue 13 asks
        that no I/O error end the process, so the node goes on serving what does not
        need this directory (metadata, other brokers' partitions, DeleteTopics to free
        space) and reports the directory offline.
        """
        for partition_log in self.logs.values():
            partition_log.offline = True
        return [*self.logs, *self._unopened]

    # --- opening ---

    @classmethod
    def open(
        cls,
        data_dir: str | None,
        *,
        cluster_id: str,
        node_id: int,
        now_ms: int,
        config_for: Callable[[str], LogConfig] | None = None,
        producer_id_expiration_ms: int = 86_400_000,
        recovery_threads: int = 1,
    ) -> LogManager:
        """Open a data directory, recovering every partition log in it.

        ``recovery_threads`` logs are opened at a time (``num.recovery.threads.per.data.dir``).

        Raises:
            StorageError(INCONSISTENT_CLUSTER_ID): ``meta.properties`` names another
                cluster or node.
        """
        manager = cls(data_dir, config_for=config_for, producer_id_expiration_ms=producer_id_expiration_ms)
        manager.recovery_threads = recovery_threads
        if data_dir is None:
            return manager
        os.makedirs(data_dir, exist_ok=True)
        try:
            manager._check_meta_properties(cluster_id, node_id)
        except OSError as exc:
            # A full disk at start: the directory goes offline, the node starts anyway.
            manager.directory_id = manager.directory_id or new_directory_id()
            manager.report_failure(f"writing {META_PROPERTIES}", exc)
        clean_marker = os.path.join(data_dir, CLEAN_SHUTDOWN_FILE)
        clean_shutdown = os.path.exists(clean_marker)
        recovery_points = read_offset_checkpoint(os.path.join(data_dir, RECOVERY_POINT_CHECKPOINT))
        start_offsets = read_offset_checkpoint(os.path.join(data_dir, LOG_START_OFFSET_CHECKPOINT))
        high_watermarks = read_offset_checkpoint(os.path.join(data_dir, REPLICATION_OFFSET_CHECKPOINT))
        cleaner_offsets = read_offset_checkpoint(os.path.join(data_dir, CLEANER_OFFSET_CHECKPOINT))
        configs: dict[str, LogConfig] = {}  # one per topic, not one per partition
        jobs: list[tuple[str, TopicPartition, _Unopened, LogConfig]] = []
        # scandir's entry types come with the listing: no stat per partition directory.
        with os.scandir(data_dir) as listing:
            directories = sorted((entry.name, entry.path) for entry in listing if entry.is_dir())
        for name, path in directories:
            if is_delete_dir(name):
                shutil.rmtree(path, ignore_errors=True)
                continue
            tp = parse_log_dir_name(name)
            if tp is None or name == METADATA_LOG_DIR_NAME:
                continue
            start = start_offsets.get(tp, 0)
            saved = _Unopened(recovery_points.get(tp, 0), start, high_watermarks.get(tp, start),
                              cleaner_offsets.get(tp, start))
            config = configs.get(tp[0])
            if config is None:
                config = configs[tp[0]] = manager.config_for(tp[0])
            jobs.append((path, tp, saved, config))

        def open_one(job: tuple[str, TopicPartition, _Unopened, LogConfig]) -> PartitionLog | OSError:
            path, tp, saved, config = job
            try:
                return manager._open_log(path, tp, saved, clean_shutdown=clean_shutdown, now_ms=now_ms, config=config)
            except OSError as exc:
                return exc

        if recovery_threads > 1 and len(jobs) > 1:
            # Kafka's num.recovery.threads.per.data.dir: the opening is mostly system calls
            # (open, pread, ftruncate), which run outside the GIL.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(recovery_threads, thread_name_prefix="log-recovery") as pool:
                opened = list(pool.map(open_one, jobs))
        else:
            opened = [open_one(job) for job in jobs]
        for (_, tp, saved, _), result in zip(jobs, opened):
            if isinstance(result, PartitionLog):
                manager.logs[tp] = result
            else:
                exc = result
                # Out of descriptors, only this log waits, to be opened (and recovered)
                # when the broker asks for it; a disk error (a recovery that cannot
                # write on a full disk) takes the directory offline, as in Kafka.
                logger.error("Could not open the log of %s-%d, it stays offline until asked for again: %s",
                          tp[0], tp[1], exc)
                manager._unopened[tp] = saved
                manager.report_failure(f"opening the log of {tp[0]}-{tp[1]}", exc)
        if clean_shutdown:
            try:
                os.unlink(clean_marker)
                fsync_dir(data_dir)
            except OSError as exc:
                manager.report_failure(f"removing {CLEAN_SHUTDOWN_FILE}", exc)
        manager._warn_if_descriptors_short()
        return manager

    def _open_log(self, path: str, tp: TopicPartition, saved: _Unopened, *, clean_shutdown: bool,
                  now_ms: int, config: LogConfig | None = None) -> PartitionLog:
        partition_log = PartitionLog.open(
            path,
            tp[0],
            tp[1],
            config or self.config_for(tp[0]),
            now_ms=now_ms,
            recovery_point=saved.recovery_point,
            log_start_offset=saved.log_start_offset,
            clean_shutdown=clean_shutdown,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
        )
        partition_log.update_high_watermark(saved.high_watermark)
        partition_log.cleaner_checkpoint = saved.cleaner_checkpoint
        if self.offline:
            partition_log.offline = True
        return self._attach(partition_log)

    @property
    def segment_count(self) -> int:
        """Segments of the open logs: the descriptors they hold (one each)."""
        return sum(len(partition_log.segments) for partition_log in self.logs.values())

    def _warn_if_descriptors_short(self) -> None:
        """Warn at start when ``RLIMIT_NOFILE`` is below one descriptor per segment on disk
        plus the node's own (Kafka's docs: "number_of_partitions * (partition_size /
        segment_size)" at least)."""
        segments = self.segment_count + len(self._unopened)  # at least one each
        limit = open_files_limit()
        needed = segments + DESCRIPTOR_HEADROOM
        if limit != resource.RLIM_INFINITY and limit < needed:
            logger.warning(
                "The open files limit (RLIMIT_NOFILE, ulimit -n) is %d: the %d logs in %s hold %s%d segments, "
                "one file descriptor each, and the node needs about %d more for connections and itself; "
                "raise it above %d, or partitions will fail with KAFKA_STORAGE_ERROR",
                limit, len(self.logs) + len(self._unopened), self.data_dir, "at least " if self._unopened else "",
                segments, DESCRIPTOR_HEADROOM, needed)

    def _check_meta_properties(self, cluster_id: str, node_id: int) -> None:
        assert self.data_dir is not None
        path = os.path.join(self.data_dir, META_PROPERTIES)
        props = read_meta_properties(path)
        if props is None:
            props = {
                "version": META_PROPERTIES_VERSION,
                "cluster.id": cluster_id,
                "node.id": str(node_id),
                "directory.id": new_directory_id(),
            }
            write_meta_properties(path, props)
        elif props.get("cluster.id") != cluster_id or props.get("node.id") != str(node_id):
            raise StorageError(
                f"{path} belongs to cluster {props.get('cluster.id')} node {props.get('node.id')}, "
                f"not cluster {cluster_id} node {node_id}",
                error_code=ErrorCode.INCONSISTENT_CLUSTER_ID,
            )
        self.directory_id = props.get("directory.id")

    # --- logs ---

    def get_log(self, topic: str, partition: int) -> PartitionLog | None:
        return self.logs.get((topic, partition))

    def get_or_create_log(self, topic: str, partition: int, *, now_ms: int, config: LogConfig | None = None) -> PartitionLog:
        """The partition's log, created empty if it does not exist.

        Raises:
            StorageError(KAFKA_STORAGE_ERROR): the log could not be opened or created
                (out of file descriptors, a disk error); nothing of it stays open, and
                a later call tries again.
        """
        tp = (topic, partition)
        existing = self.logs.get(tp)
        if existing is not None:
            return existing
        if self.offline:
            raise StorageError(f"cannot create the log of {topic}-{partition}: log directory {self.data_dir} "
                               f"is offline")
        directory = None if self.data_dir is None else os.path.join(self.data_dir, log_dir_name(topic, partition))
        unopened = self._unopened.get(tp)
        try:
            if unopened is not None and directory is not None:
                created = self._open_log(directory, tp, unopened, clean_shutdown=False, now_ms=now_ms)
            else:
                created = PartitionLog.open(
                    directory,
                    topic,
                    partition,
                    config or self.config_for(topic),
                    now_ms=now_ms,
                    clean_shutdown=True,
                    producer_id_expiration_ms=self.producer_id_expiration_ms,
                )
        except OSError as exc:
            what = "out of file descriptors" if exc.errno in OUT_OF_DESCRIPTORS else "I/O error"
            self.report_failure(f"creating the log of {topic}-{partition}", exc)
            raise StorageError(f"cannot open the log of {topic}-{partition} ({what}): {exc}") from exc
        self._unopened.pop(tp, None)
        self.logs[tp] = self._attach(created)
        if self.data_dir is not None:
            try:
                fsync_dir(self.data_dir)
            except OSError as exc:
                logger.warning("Could not fsync %s after creating %s-%d: %s", self.data_dir, topic, partition, exc)
        return created

    def delete_log(self, topic: str, partition: int, *, now_ms: int) -> bool:
        """Delete a partition: rename its directory ``<tp>.<uuid>-delete`` now, remove it later.

        The files stay open until ``file.delete.delay.ms`` has passed, so fetches already
        holding file regions of it can still be sent.
        """
        log = self.logs.pop((topic, partition), None)
        if log is None:
            return self._delete_unopened(topic, partition)
        log.offline = True
        if log.directory is None:
            log.delete_files()
            return True
        data_dir = os.path.dirname(log.directory)
        if self.offline:
            # A failed directory (a full disk): the files go at once, which is what frees
            # space; Kafka leaves them to the next start's stray-log removal.
            log.delete_files()
            return True
        renamed = os.path.join(data_dir, f"{log_dir_name(topic, partition)}.{uuid.uuid4().hex}-delete")
        try:
            os.rename(log.directory, renamed)
        except OSError as exc:
            self.report_failure(f"deleting {topic}-{partition}", exc)
            log.delete_files()
            return True
        self._pending_dir_deletes.append((now_ms + log.config.file_delete_delay_ms, renamed, log))
        try:
            fsync_dir(data_dir)
        except OSError as exc:  # the rename is done; only its durability waits
            logger.warning("Could not fsync %s after deleting %s-%d: %s", data_dir, topic, partition, exc)
        self.delete_pending(now_ms)
        return True

    def _delete_unopened(self, topic: str, partition: int) -> bool:
        """Delete a log found at start that could not be opened: its files go at once."""
        if self._unopened.pop((topic, partition), None) is None or self.data_dir is None:
            return False
        shutil.rmtree(os.path.join(self.data_dir, log_dir_name(topic, partition)), ignore_errors=True)
        return True

    def delete_pending(self, now_ms: int) -> int:
        """Remove deleted partitions and segments whose delay has passed."""
        removed = 0
        keep = []
        for due, path, log in self._pending_dir_deletes:
            if due <= now_ms:
                log.local_log.directory = path
                log.delete_files()
                removed += 1
            else:
                keep.append((due, path, log))
        self._pending_dir_deletes = keep
        for log in self.logs.values():
            removed += log.delete_pending_segments(now_ms)
        return removed

    def update_config(self, topic: str, config: LogConfig) -> None:
        for (t, _), log in self.logs.items():
            if t == topic:
                log.update_config(config)

    # --- periodic tasks ---

    def cleanup_logs(self, now_ms: int) -> int:
        """Retention on every log, then pending file deletions; returns segments deleted."""
        deleted = 0
        for log in list(self.logs.values()):
            if not log.offline:
                deleted += log.delete_old_segments(now_ms)
        self.delete_pending(now_ms)
        return deleted

    def flush_dirty_logs(self, now_ms: int) -> int:
        """Flush logs whose unflushed data is ``flush.ms`` old, and rolled segments; returns flushes."""
        flushed = 0
        for log in self.logs.values():
            if log.offline:
                continue
            if log.maybe_flush(now_ms):
                flushed += 1
            elif log.recovery_point < log.local_log.active_segment.base_offset:
                log.flush_rolled_segments(now_ms)
                flushed += 1
        return flushed

    def remove_expired_producers(self, now_ms: int) -> int:
        """Forget producers idle for ``producer.id.expiration.ms``; returns how many."""
        return sum(len(log.producer_state.remove_expired_producers(now_ms)) for log in self.logs.values())

    def clean_logs(self, now_ms: int) -> list[CleanerStats]:
        """Compact every compacted log that is due."""
        out = []
        for log in self.logs.values():
            if log.config.compact and not log.offline:
                stats = log.clean(now_ms)
                if stats is not None:
                    out.append(stats)
        return out

    def checkpoint(self) -> bool:
        """Write the recovery point, log start, high watermark and cleaner checkpoints.

        Logs not opened keep the offsets they had. Returns False if a file could not
        be written (out of descriptors, a disk error): that is logged, the previous
        file stays whole, and the next round writes it again.
        """
        if self.data_dir is None:
            return True
        if self.offline:
            return False
        logs = {tp: log for tp, log in self.logs.items() if not log.offline}
        written = True
        for name, value, saved in (
            (RECOVERY_POINT_CHECKPOINT, lambda log: log.recovery_point, lambda u: u.recovery_point),
            (LOG_START_OFFSET_CHECKPOINT, lambda log: log.log_start_offset, lambda u: u.log_start_offset),
            (REPLICATION_OFFSET_CHECKPOINT, lambda log: log.high_watermark, lambda u: u.high_watermark),
            (CLEANER_OFFSET_CHECKPOINT, lambda log: log.cleaner_checkpoint, lambda u: u.cleaner_checkpoint),
        ):
            offsets = {tp: saved(u) for tp, u in self._unopened.items()}
            offsets.update({tp: value(log) for tp, log in logs.items()})
            try:
                write_offset_checkpoint(os.path.join(self.data_dir, name), offsets)
            except OSError as exc:
                # Kafka's CheckpointFileWithFailureHandler: a disk error takes the
                # directory offline; out of descriptors, the next round writes it again.
                if is_directory_failure(exc):
                    self.report_failure(f"writing {name}", exc)
                    return False
                logger.warning("Could not write %s in %s, it will be written again: %s", name, self.data_dir, exc)
                written = False
        return written

    def _write_leader_epoch_checkpoints(self, logs: list[PartitionLog]) -> None:
        """Write the leader-epoch checkpoints the logs' flushes at close would write, all
        at once: a node that led 10,000 partitions in a new epoch and got data in them
        has 10,000 to write, and two file-system syncs cost less than 20,000 fsyncs. If
        this fails, each log's close writes its own and reports the failure."""
        if self.data_dir is None or self.offline:
            return
        pending = {log: checkpoint for log in logs
                   if not log.offline and (checkpoint := log.leader_epoch_cache.checkpoint_at_close(log.log_end_offset))}
        if not pending:
            return
        try:
            write_all_atomically({path: leader_epoch_checkpoint_text(entries) for path, entries in pending.values()},
                                 self.data_dir, threads=self.recovery_threads)
        except OSError as exc:
            logger.warning("Could not write the leader-epoch checkpoints of %s at once, each log writes its own: %s",
                           self.data_dir, exc)
            return
        for log, (_, entries) in pending.items():
            log.leader_epoch_cache.written(entries)

    def close(self, now_ms: int) -> None:
        """Flush and close every log, write checkpoints, and mark the shutdown clean.

        The logs are closed :attr:`recovery_threads` at a time, as Kafka's shutdown
        flushes them on its recovery threads: each close is a few fsyncs.
        """
        logs = list(self.logs.values())
        self._write_leader_epoch_checkpoints(logs)
        if self.recovery_threads > 1 and len(logs) > 1 and self.data_dir is not None:
            from concurrent.futures import ThreadPoolExecutor

            # A failure while closing is recorded (no clean-shutdown marker then), but the
            # broker's handler, a trio task, is not woken from these threads.
            self.failure_channel.on_offline = None
            with ThreadPoolExecutor(self.recovery_threads, thread_name_prefix="log-close") as pool:
                list(pool.map(lambda log: log.close(now_ms), logs))
        else:
            for log in logs:
                log.close(now_ms)
        if self.data_dir is None:
            return
        checkpointed = self.checkpoint()
        for _, path, log in self._pending_dir_deletes:
            log.local_log.directory = path
            log.delete_files()
        self._pending_dir_deletes = []
        if checkpointed and not self._unopened and not any(log.offline for log in self.logs.values()):
            try:
                write_atomically(
                    os.path.join(self.data_dir, CLEAN_SHUTDOWN_FILE), json.dumps({"version": 0, "brokerEpoch": -1})
                )
            except OSError as exc:  # the next start recovers the logs instead
                logger.warning("Could not mark the shutdown of %s clean: %s", self.data_dir, exc)
