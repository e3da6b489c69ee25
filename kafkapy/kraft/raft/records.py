"""Entries of the ``__cluster_metadata`` log as the Raft core sees them.

Data records are opaque bytes: the metadata layer encodes and decodes them. Control
records are the KRaft ones the core writes and reads itself, field for field as Kafka's
data schemas (``LeaderChangeMessage.json``, ``KRaftVersionRecord.json``,
``VotersRecord.json``) with Kafka's names snake_cased. Their record type numbers are
Kafka's ``ControlRecordType``; a file-backed log stores them in control batches.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class ControlRecordType(enum.IntEnum):
    """Kafka's ``ControlRecordType`` keys (the control record key's ``type`` field)."""

    ABORT = 0
    COMMIT = 1
    LEADER_CHANGE = 2
    SNAPSHOT_HEADER = 3
    SNAPSHOT_FOOTER = 4
    KRAFT_VERSION = 5
    KRAFT_VOTERS = 6


class Endpoint(NamedTuple):
    """One listener of a voter (``VotersRecord.Endpoints`` / ``Listeners`` in the RPCs)."""

    name: str
    host: str
    port: int


class Voter(NamedTuple):
    """One voter of ``VotersRecord``: id, directory id, endpoints, kraft.version range."""

    voter_id: int
    voter_directory_id: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    kraft_version_feature: tuple[int, int] = (0, 1)


class LeaderChangeMessage(NamedTuple):
    """Appended by every new leader at its epoch start offset (KIP-595)."""

    leader_id: int
    voters: tuple[int, ...]
    granting_voters: tuple[int, ...]
    version: int = 0
    record_type = ControlRecordType.LEADER_CHANGE


class KRaftVersionRecord(NamedTuple):
    """The finalized ``kraft.version`` (KIP-853); 1 means voters live in the log."""

    kraft_version: int
    version: int = 0
    record_type = ControlRecordType.KRAFT_VERSION


class VotersRecord(NamedTuple):
    """The whole voter set, effective from the offset it is appended at (KIP-853)."""

    voters: tuple[Voter, ...]
    version: int = 0
    record_type = ControlRecordType.KRAFT_VOTERS


ControlRecord = LeaderChangeMessage | KRaftVersionRecord | VotersRecord


class LogEntry(NamedTuple):
    """One record at ``offset``, written in leader epoch ``epoch``.

    ``value`` is the record value for data records, or a control record. ``size`` is
    the value's byte size (data records only) and feeds the snapshot policy.
    """

    offset: int
    epoch: int
    value: bytes | ControlRecord

    @property
    def is_control(self) -> bool:
        return not isinstance(self.value, bytes)

    @property
    def size(self) -> int:
        return len(self.value) if isinstance(self.value, bytes) else 0
