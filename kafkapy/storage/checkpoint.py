"""Small text files Kafka keeps next to the logs, in Kafka's formats.

- Offset checkpoints (``recovery-point-offset-checkpoint``, ``log-start-offset-checkpoint``,
  ``replication-offset-checkpoint``) at the data-dir level: a version line (0), a count
  line, then ``<topic> <partition> <offset>`` lines (``OffsetCheckpointFile``).
- ``leader-epoch-checkpoint`` in each partition directory: version (0), count, then
  ``<epoch> <start offset>`` lines (``LeaderEpochCheckpointFile``).
- ``meta.properties`` at the data-dir root: Java properties with ``version=1``,
  ``cluster.id``, ``node.id`` and ``directory.id`` (KRaft, ``MetaProperties``).

Every write goes to ``<file>.tmp``, is fsynced, then renamed over the file, and the
directory is fsynced: a crash leaves either the old or the new content, never a mix
(``CheckpointFile.write``). Many files written together (:func:`write_all_atomically`)
keep that promise with two syncs of the file system instead of two fsyncs each.
"""

from __future__ import annotations

import base64
import ctypes
import functools
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from kafkapy.storage.errors import StorageError
from kafkapy.wire.error_codes import ErrorCode

CHECKPOINT_VERSION = 0
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT = "log-start-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT = "replication-offset-checkpoint"
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
META_PROPERTIES = "meta.properties"


def fsync_dir(path: str) -> None:
    """Make a rename or file creation in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file."""
    _write_tmp(path, text, fsync=True)
    os.replace(path + ".tmp", path)
    fsync_dir(os.path.dirname(path) or ".")


def _write_tmp(path: str, text: str, *, fsync: bool) -> None:
    """Write ``text`` to ``<path>.tmp``."""
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_all_atomically(files: Mapping[str, str], file_system: str, *, threads: int = 1) -> None:
    """Replace many files, each as :func:`write_atomically` does, with two syncs of the
    file system holding ``file_system`` instead of two fsyncs per file.

    A clean shutdown of 10,000 partitions rewrites 10,000 leader-epoch checkpoints:
    every ``<file>.tmp`` is written, the file system synced, every one renamed over its
    file, and the file system synced again. A crash leaves each file old or new, never
    a mix, as the new content is on disk before any rename; the caller marks the
    shutdown clean only after this returns. The creates and renames, system calls that
    run outside the GIL, are spread over ``threads`` threads.
    """
    def write_tmp(item: tuple[str, str]) -> None:
        _write_tmp(*item, fsync=False)

    def rename(path: str) -> None:
        os.replace(path + ".tmp", path)

    with ThreadPoolExecutor(threads, thread_name_prefix="checkpoint") as pool:
        list(pool.map(write_tmp, files.items()))
        sync_file_system(file_system)
        list(pool.map(rename, files))
    sync_file_system(file_system)


def sync_file_system(path: str) -> None:
    """Write out everything buffered for the file system holding ``path``: Linux's
    ``syncfs``, else a global ``sync``."""
    syncfs = _libc_syncfs()
    if syncfs is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs: {os.strerror(errno)}", path)
    finally:
        os.close(fd)


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def _read_lines(path: str) -> list[str] | None:
    """The file's lines, None when it is missing. Read with plain system calls (open,
    read to the end, close), not a text-mode file object and its extra fstat, ioctl and
    lseek: a restart reads one leader-epoch checkpoint per partition, 10,000 of them."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        parts = []
        while chunk := os.read(fd, 1 << 16):
            parts.append(chunk)
    finally:
        os.close(fd)
    return b"".join(parts).decode("utf-8").splitlines()


def _checkpoint_entries(path: str, lines: list[str], fields: int) -> list[list[str]]:
    """Check the version and count lines, return the split entry lines."""
    def corrupt(why: str) -> StorageError:
        return StorageError(f"malformed checkpoint file {path}: {why}", error_code=ErrorCode.KAFKA_STORAGE_ERROR)

    if len(lines) < 2:
        raise corrupt("missing version or count line")
    if lines[0].strip() != str(CHECKPOINT_VERSION):
        raise corrupt(f"unknown version {lines[0]!r}")
    try:
        count = int(lines[1])
    except ValueError:
        raise corrupt(f"bad count line {lines[1]!r}") from None
    entries = [line.split() for line in lines[2:] if line.strip()]
    if len(entries) != count or any(len(e) != fields for e in entries):
        raise corrupt(f"expected {count} entries of {fields} fields")
    return entries


def read_offset_checkpoint(path: str) -> dict[tuple[str, int], int]:
    """``(topic, partition) -> offset`` from an offset checkpoint; empty if absent."""
    lines = _read_lines(path)
    if lines is None:
        return {}
    try:
        return {(t, int(p)): int(o) for t, p, o in _checkpoint_entries(path, lines, 3)}
    except ValueError:
        raise StorageError(f"malformed checkpoint file {path}: non-numeric field") from None


def write_offset_checkpoint(path: str, offsets: Mapping[tuple[str, int], int]) -> None:
    lines = [str(CHECKPOINT_VERSION), str(len(offsets))]
    lines += [f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(offsets.items())]
    write_atomically(path, "\n".join(lines) + "\n")


def read_leader_epoch_checkpoint(path: str) -> list[tuple[int, int]] | None:
    """``[(epoch, start_offset), ...]`` from a leader-epoch-checkpoint; None if absent."""
    lines = _read_lines(path)
    if lines is None:
        return None
    try:
        return [(int(e), int(o)) for e, o in _checkpoint_entries(path, lines, 2)]
    except ValueError:
        raise StorageError(f"malformed checkpoint file {path}: non-numeric field") from None


def write_leader_epoch_checkpoint(path: str, entries: Iterable[tuple[int, int]]) -> None:
    write_atomically(path, leader_epoch_checkpoint_text(entries))


def leader_epoch_checkpoint_text(entries: Iterable[tuple[int, int]]) -> str:
    """A ``leader-epoch-checkpoint``'s content."""
    entries = list(entries)
    lines = [str(CHECKPOINT_VERSION), str(len(entries))] + [f"{e} {o}" for e, o in entries]
    return "\n".join(lines) + "\n"


def new_directory_id() -> str:
    """A random Uuid in Kafka's text form (url-safe base64 of 16 bytes, no padding).

    As Kafka's ``Uuid.randomUuid``, never one starting with "-": a command line would
    read it as an option (``kafka-storage format -t -abc...``).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def read_meta_properties(path: str) -> dict[str, str] | None:
    """The key/value pairs of ``meta.properties``; None if absent."""
    lines = _read_lines(path)
    if lines is None:
        return None
    props = {}
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise StorageError(f"malformed {path}: {line!r}")
        props[key.strip()] = value.strip()
    return props


def write_meta_properties(path: str, props: Mapping[str, str]) -> None:
    """Write ``meta.properties`` as Java's ``Properties.store`` does (comment, date, keys)."""
    stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
    lines = ["#", f"#{stamp}"] + [f"{k}={v}" for k, v in sorted(props.items())]
    write_atomically(path, "\n".join(lines) + "\n")
