"""The voter set and its history along the log (KIP-853).

A voter set takes effect at the offset its ``VotersRecord`` is appended at, committed
or not, as in Raft's single-server membership change; so truncating the log can bring
an older set back. :class:`VoterSetHistory` keeps every set still reachable by
truncation, keyed by offset; the set at offset -1 is the static one
(``controller.quorum.voters``) or the one in the latest snapshot.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

from kafkapy.kraft.raft.errors import RaftInvariantError
from kafkapy.kraft.raft.records import Voter, VotersRecord


class VoterSet:
    """An immutable set of voters keyed by id."""

    __slots__ = ("_voters", "ids")

    def __init__(self, voters: Iterable[Voter]) -> None:
        self._voters: Mapping[int, Voter] = {v.voter_id: v for v in voters}
        self.ids: frozenset[int] = frozenset(self._voters)

    @classmethod
    def of_ids(cls, ids: Iterable[int]) -> VoterSet:
        """A static voter set from ids only (``controller.quorum.voters`` without endpoints)."""
        return cls(Voter(i) for i in ids)

    @classmethod
    def from_record(cls, record: VotersRecord) -> VoterSet:
        return cls(record.voters)

    def to_record(self) -> VotersRecord:
        return VotersRecord(tuple(self._voters[i] for i in sorted(self._voters)))

    @property
    def majority(self) -> int:
        return len(self._voters) // 2 + 1

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._voters

    def __len__(self) -> int:
        return len(self._voters)

    def get(self, node_id: int) -> Voter | None:
        return self._voters.get(node_id)

    def with_voter(self, voter: Voter) -> VoterSet:
        return VoterSet([*(v for i, v in self._voters.items() if i != voter.voter_id), voter])

    def without(self, node_id: int) -> VoterSet:
        return VoterSet(v for i, v in self._voters.items() if i != node_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VoterSet) and dict(self._voters) == dict(other._voters)

    def __repr__(self) -> str:
        return f"VoterSet({sorted(self.ids)})"


class VoterSetHistory:
    """Voter sets by the offset they take effect at; the last one is in force.

    Invariants: offsets strictly increase; there is always a set at offset -1 or at the
    log start (the base set).
    """

    __slots__ = ("_offsets", "_sets")

    def __init__(self, base: VoterSet) -> None:
        self._offsets: list[int] = [-1]
        self._sets: list[VoterSet] = [base]

    @property
    def last(self) -> VoterSet:
        return self._sets[-1]

    @property
    def last_offset(self) -> int:
        """Offset of the record that set the current voters; -1 for the base set."""
        return self._offsets[-1]

    def at(self, offset: int) -> VoterSet:
        """The voter set in force just after ``offset`` (records at <= offset applied)."""
        i = bisect.bisect_right(self._offsets, offset) - 1
        return self._sets[max(i, 0)]

    def add(self, offset: int, voters: VoterSet) -> None:
        if offset <= self._offsets[-1]:
            raise RaftInvariantError(f"voter set at {offset} after one at {self._offsets[-1]}")
        self._offsets.append(offset)
        self._sets.append(voters)

    def truncate_to(self, offset: int) -> None:
        """Forget the sets appended at ``offset`` or later (log truncation)."""
        while len(self._offsets) > 1 and self._offsets[-1] >= offset:
            self._offsets.pop()
            self._sets.pop()

    def reset(self, base: VoterSet) -> None:
        """Start over from a snapshot's voter set."""
        self._offsets = [-1]
        self._sets = [base]

    def campaign_set(self, high_watermark: int | None) -> VoterSet:
        """The voters that may stand for election: the latest set, plus the one before it
        while the latest may be uncommitted.

        A leader that appended its own removal and lost leadership before it committed
        may hold the only up-to-date log; it must be able to stand so it can finish the
        change. Quorums still count only the latest set, in which its own vote does not
        count (openraft#2091 describes the deadlock this avoids).
        """
        if len(self._sets) > 1 and self.has_uncommitted_change(high_watermark):
            return VoterSet([*self._sets[-2]._voters.values(), *self._sets[-1]._voters.values()])
        return self._sets[-1]

    def has_uncommitted_change(self, high_watermark: int | None) -> bool:
        """Whether the set in force was appended at or after the high watermark."""
        return self._offsets[-1] >= 0 and (high_watermark is None or self._offsets[-1] >= high_watermark)
