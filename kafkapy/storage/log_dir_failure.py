"""Log directories that failed (Kafka's ``LogDirFailureChannel``).

Every part of the storage layer that meets an I/O error it cannot recover from (an
append, a roll, an index, a flush, a checkpoint, a producer snapshot: ENOSPC, EIO,
EROFS, EFBIG...) reports the log directory here, as Kafka's ``maybeHandleIOException``
and ``CheckpointFileWithFailureHandler`` do, then raises ``StorageError``
(KAFKA_STORAGE_ERROR). The first report of a directory is queued for the broker,
whose handler (Kafka's ``LogDirFailureHandler`` calling
``ReplicaManager.handleLogDirFailure``) takes every partition of that directory
offline and tells the controller (KIP-858, BrokerHeartbeat ``OfflineLogDirs``).
Later reports of the same directory are only logged.

A directory stays offline until the process restarts, as in Kafka: a restart checks
the directory again (the log manager opens it as any other).

Running out of file descriptors (EMFILE, ENFILE) is not a failure of the directory:
it is the process's, and passes; those errors fail the one operation only (see
:mod:`kafkapy.storage.log_manager`).

Synchronous and task-free: the broker reads :meth:`take_pending` when
``on_offline`` wakes it.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: Errors that mean the process or system is out of file descriptors, not a disk fault.
OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


def is_directory_failure(exc: BaseException) -> bool:
    """Whether ``exc`` takes a log directory offline: any ``OSError`` but running out of
    file descriptors."""
    return isinstance(exc, OSError) and exc.errno not in OUT_OF_DESCRIPTORS


class LogDirFailureChannel:
    """The offline log directories, and the queue of those the broker has not handled."""

    def __init__(self) -> None:
        #: directory -> the first error seen there
        self.offline: dict[str, str] = {}
        self._pending: list[str] = []
        #: called (on the caller's thread) when a directory first goes offline
        self.on_offline: Callable[[str], None] | None = None

    def maybe_add_offline_log_dir(self, log_dir: str, message: str, exc: BaseException | None = None) -> bool:
        """Report an I/O error in ``log_dir``; returns True if the directory just went offline."""
        if log_dir in self.offline:
            logger.debug("%s (log directory %s already offline): %s", message, log_dir, exc)
            return False
        logger.error("%s: log directory %s goes offline: %s", message, log_dir, exc)
        self.offline[log_dir] = f"{message}: {exc}" if exc is not None else message
        self._pending.append(log_dir)
        if self.on_offline is not None:
            self.on_offline(log_dir)
        return True

    def has_offline_log_dir(self, log_dir: str | None) -> bool:
        return log_dir is not None and log_dir in self.offline

    def take_pending(self) -> list[str]:
        """The directories gone offline since the last call (Kafka's ``takeNextOfflineLogDir``)."""
        pending, self._pending = self._pending, []
        return pending
