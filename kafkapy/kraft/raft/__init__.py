"""The sans-I/O Raft core of KRaft (KIP-595, KIP-630, KIP-853, KIP-996) and its trio driver.

``RaftNode`` is the state machine; ``Ready`` is its output; ``RaftLog`` is how it reads
the persisted log; ``MemoryLog`` is an in-memory log for tests and the simulation.
"""

from kafkapy.kraft.raft.config import RaftConfig
from kafkapy.kraft.raft.epoch_state import ElectionState
from kafkapy.kraft.raft.errors import RaftError, RaftInvariantError
from kafkapy.kraft.raft.log import RaftLog, RaftSnapshot, SnapshotInstall
from kafkapy.kraft.raft.node import RaftNode
from kafkapy.kraft.raft.ready import Ready
from kafkapy.kraft.raft.voters import VoterSet

__all__ = [
    "ElectionState", "RaftConfig", "RaftError", "RaftInvariantError", "RaftLog", "RaftNode",
    "RaftSnapshot", "Ready", "SnapshotInstall", "VoterSet",
]
