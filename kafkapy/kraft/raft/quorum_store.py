"""Where the election state survives restarts: Kafka's ``quorum-state`` file.

The file (``<metadata.log.dir>/__cluster_metadata-0/quorum-state``) is one JSON line,
``QuorumStateData`` plus a ``data_version`` field, as Kafka's ``FileQuorumStateStore``
writes it; version 1 (KIP-853)::

    {"leaderId":-1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"J8aAPcfLQt2bqs1JT_rMgQ","data_version":1}

Version 0 files (with ``clusterId``, ``appliedOffset`` and ``currentVoters``) are read
too. Writes replace the file atomically and fsync it before anything is sent.
"""

from __future__ import annotations

import json
import os
from typing import Protocol

from kafkapy.kraft.raft.epoch_state import ElectionState
from kafkapy.kraft.raft.errors import RaftError
from kafkapy.kraft.raft.messages import ReplicaKey
from kafkapy.storage.checkpoint import write_atomically
from kafkapy.wire.error_codes import ErrorCode

QUORUM_STATE_FILE = "quorum-state"
ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA"
"""Kafka's ``Uuid.ZERO`` in its base64 form: "no directory id"."""


class QuorumStateStore(Protocol):
    def read(self) -> ElectionState | None: ...

    def write(self, election: ElectionState) -> None: ...


class MemoryQuorumStateStore:
    """Keeps the last written state in memory (tests, the simulation)."""

    def __init__(self, election: ElectionState | None = None) -> None:
        self.election = election

    def read(self) -> ElectionState | None:
        return self.election

    def write(self, election: ElectionState) -> None:
        self.election = election


def encode_quorum_state(election: ElectionState) -> str:
    voted = election.voted_key
    doc = {
        "leaderId": election.leader_id if election.leader_id is not None else -1,
        "leaderEpoch": election.epoch,
        "votedId": voted.id if voted is not None else -1,
        "votedDirectoryId": (voted.directory_id if voted is not None and voted.directory_id else ZERO_UUID),
        "data_version": 1,
    }
    return json.dumps(doc, separators=(",", ":"))


def decode_quorum_state(text: str) -> ElectionState:
    """Parse a ``quorum-state`` line (data_version 0 or 1).

    Raises:
        RaftError: not JSON, or an unknown ``data_version``.
    """
    try:
        doc = json.loads(text.splitlines()[0])
        version = doc["data_version"]
        if version not in (0, 1):
            raise ValueError(f"data_version {version} is not 0 or 1")
        leader_id = int(doc.get("leaderId", -1))
        voted_id = int(doc.get("votedId", -1))
        directory = doc.get("votedDirectoryId") if version >= 1 else None
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise RaftError(f"unreadable quorum-state: {e}", ErrorCode.KAFKA_STORAGE_ERROR) from e
    voted = ReplicaKey(voted_id, None if directory in (None, ZERO_UUID) else directory) if voted_id >= 0 else None
    return ElectionState(int(doc.get("leaderEpoch", -1)), leader_id if leader_id >= 0 else None, voted)


class FileQuorumStateStore:
    """The ``quorum-state`` file in a partition directory."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, QUORUM_STATE_FILE)

    def read(self) -> ElectionState | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                return decode_quorum_state(f.read())
        except FileNotFoundError:
            return None

    def write(self, election: ElectionState) -> None:
        write_atomically(self.path, encode_quorum_state(election))
