"""The output of the Raft core: what the caller must do, in order, before ``advance()``."""

from __future__ import annotations

from typing import NamedTuple

from kafkapy.kraft.raft.epoch_state import ElectionState
from kafkapy.kraft.raft.log import SnapshotInstall
from kafkapy.kraft.raft.messages import Envelope
from kafkapy.kraft.raft.records import LogEntry


class Ready(NamedTuple):
    """One batch of work, handled in field order, then acknowledged with ``advance()``.

    1. ``messages``: may be sent at once; they depend on nothing unpersisted.
    2. ``quorum_state``: write to the ``quorum-state`` file (fsync) if not None.
    3. ``snapshot``: write the downloaded snapshot and restart the log at its end
       offset; the state machine loads it before applying ``committed``.
    4. ``truncate_to``: remove log entries at and after this offset.
    5. ``entries``: append to the log (fsync).
    6. ``messages_after_persist``: send only after 2-5 are durable (a vote, a fetch
       whose offset acks appended entries).
    7. ``committed``: newly committed entries, in offset order, to apply; they are
       already durable locally. ``high_watermark`` is the node's current one.
    ``next_deadline_ms``: call ``tick()`` no later than this, even without messages.
    """

    quorum_state: ElectionState | None
    snapshot: SnapshotInstall | None
    truncate_to: int | None
    entries: tuple[LogEntry, ...]
    messages: tuple[Envelope, ...]
    messages_after_persist: tuple[Envelope, ...]
    committed: tuple[LogEntry, ...]
    high_watermark: int | None
    next_deadline_ms: float

    @property
    def must_persist(self) -> bool:
        return (self.quorum_state is not None or self.snapshot is not None
                or self.truncate_to is not None or bool(self.entries))
