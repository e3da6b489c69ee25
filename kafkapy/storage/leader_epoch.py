"""Leader epoch -> start offset of a partition (Kafka's ``LeaderEpochFileCache``).

Each entry says: from this offset on, batches were written by the leader of this epoch.
Followers and consumers use it through OffsetForLeaderEpoch to find where their log
diverged. Kept in ``leader-epoch-checkpoint`` (see :mod:`kafkapy.storage.checkpoint`),
rewritten whenever it changes. A rewrite that fails (out of file descriptors, a disk
error) is logged and done again at the next change or flush of the log: the entries
it missed name batches past the recovery point, which recovery assigns again. Not
task-safe: called only by the partition's owner.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable

from kafkapy.storage.checkpoint import (
    read_leader_epoch_checkpoint,
    write_leader_epoch_checkpoint,
)

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1

logger = logging.getLogger(__name__)


class LeaderEpochFileCache:
    """Ascending ``(epoch, start_offset)`` entries; epochs and offsets both increase."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.entries: list[tuple[int, int]] = []
        #: the file misses a change (its rewrite failed)
        self.unflushed = False
        #: told of a failed rewrite (Kafka's ``CheckpointFileWithFailureHandler``
        #: reports it to the ``LogDirFailureChannel``)
        self.on_failure: Callable[[OSError], None] | None = None
        if path is not None:
            self.entries = read_leader_epoch_checkpoint(path) or []
        #: what the file holds (a missing file reads as none)
        self._on_disk = list(self.entries)

    def _flush(self) -> None:
        if self.path is not None:
            try:
                write_leader_epoch_checkpoint(self.path, self.entries)
            except OSError as exc:
                if not self.unflushed:
                    logger.warning("Could not write %s, it will be written again: %s", self.path, exc)
                self.unflushed = True
                if self.on_failure is not None:
                    self.on_failure(exc)
            else:
                self.written(self.entries)

    def write_if_unflushed(self) -> None:
        """Rewrite the file if a change missed it; raises OSError if it fails again."""
        if self.unflushed and self.path is not None:
            write_leader_epoch_checkpoint(self.path, self.entries)
            self.written(self.entries)

    def checkpoint_at_close(self, log_end_offset: int) -> tuple[str, list[tuple[int, int]]] | None:
        """``(path, entries)`` a clean close must write, for a caller that writes many at
        once (:func:`write_all_atomically`, then :meth:`written`); None if the file needs
        no write, and then it counts as written.

        Entries starting at or past the log end are left out: the next open drops them
        (``truncate_from_end``, Kafka's ``LogLoader``). A partition that led in a new
        epoch and got no batch in it, every idle partition after a restart, has nothing
        to write then.
        """
        if not self.unflushed or self.path is None:
            return None
        kept = [(e, o) for e, o in self.entries if o < log_end_offset]
        if kept == self._on_disk:
            self.unflushed = False
            return None
        return self.path, kept

    def written(self, entries: list[tuple[int, int]]) -> None:
        """The file holds ``entries`` now."""
        self._on_disk = list(entries)
        self.unflushed = False

    @property
    def latest_epoch(self) -> int | None:
        return self.entries[-1][0] if self.entries else None

    def assign(self, epoch: int, start_offset: int, *, flush: bool = True) -> None:
        """Record that ``epoch`` starts at ``start_offset``, dropping entries it supersedes.

        Like Kafka's ``assign``: a no-op for a negative epoch or when the latest entry
        already is this epoch at or before this offset. ``flush=False`` (a leader taking
        its epoch at its log end) leaves the file to the log's next flush, which writes it
        before it moves the recovery point: a batch of the epoch is then either below the
        recovery point with the file written, or above it and assigned again by recovery.
        """
        if epoch < 0:
            return
        if self.entries:
            latest_epoch, latest_offset = self.entries[-1]
            if latest_epoch == epoch and start_offset >= latest_offset:
                return
        self.entries = [(e, o) for e, o in self.entries if e < epoch and o < start_offset]
        self.entries.append((epoch, start_offset))
        self._flush_or_defer(flush)

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """``(epoch, end offset)`` answering OffsetForLeaderEpoch (``endOffsetFor``).

        The end offset of an epoch is the start offset of the next higher epoch, or the
        log end offset for the latest one. An epoch between known ones answers with the
        largest known epoch below it; an unknown higher epoch gives ``(-1, -1)``.
        """
        if requested_epoch == UNDEFINED_EPOCH or not self.entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self.entries[-1][0]:
            return requested_epoch, log_end_offset
        epochs = [e for e, _ in self.entries]
        higher = bisect.bisect_right(epochs, requested_epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return requested_epoch, self.entries[0][1]
        return self.entries[higher - 1][0], self.entries[higher][1]

    def start_offset_of(self, epoch: int) -> int | None:
        """Where ``epoch`` starts, if it has an entry."""
        for e, o in reversed(self.entries):
            if e == epoch:
                return o
            if e < epoch:
                return None
        return None

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch of the leader that wrote ``offset``, if known."""
        offsets = [o for _, o in self.entries]
        i = bisect.bisect_right(offsets, offset)
        return self.entries[i - 1][0] if i else None

    def truncate_from_end(self, end_offset: int, *, flush: bool = True) -> None:
        """Drop entries starting at or after ``end_offset`` (the log was truncated there).

        ``flush=False`` (loading a log) leaves the file to the next flush of the log, as
        Kafka's ``truncateFromEndAsyncFlush`` (KAFKA-15046): a stale file is truncated the
        same way at the next load, and 10,000 partitions open without 10,000 fsyncs.
        """
        keep = [(e, o) for e, o in self.entries if o < end_offset]
        if len(keep) != len(self.entries):
            self.entries = keep
            self._flush_or_defer(flush)

    def _flush_or_defer(self, flush: bool) -> None:
        if flush:
            self._flush()
        else:
            self.unflushed = self.path is not None

    def truncate_from_start(self, start_offset: int, *, flush: bool = True) -> None:
        """The log now starts at ``start_offset``: drop older entries, keep the epoch in force
        (``flush`` as :meth:`truncate_from_end`)."""
        i = bisect.bisect_right([o for _, o in self.entries], start_offset)
        if i == 0:
            return
        epoch, offset = self.entries[i - 1]
        if i == 1 and offset == start_offset:
            return
        self.entries = [(epoch, start_offset)] + self.entries[i:]
        self._flush_or_defer(flush)

    def clear(self) -> None:
        if self.entries:
            self.entries = []
            self._flush()
