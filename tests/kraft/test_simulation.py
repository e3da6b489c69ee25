"""Randomized schedules of the Raft core on a simulated network and clock.

Each seed is one schedule (see ``run_random_schedule``): 3 or 5 voters, random
delays, drops, duplicates, partitions, crashes and restarts, client proposals, and
snapshots; invariants are checked after every event. A failure names its seed;
rerun just that one with ``KAFKAPY_RAFT_SEED=<seed> pytest tests/kraft/test_simulation.py``.
``KAFKAPY_RAFT_SEEDS`` sets how many seeds run (2000 by default, plus a quarter as
many with voter changes).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkapy.kraft.raft import quorum_state
from kafkapy.kraft.raft.simulation import SimulationFailure, run_random_schedule

SEEDS = int(os.environ.get("KAFKAPY_RAFT_SEEDS", "2000"))
ONE_SEED = os.environ.get("KAFKAPY_RAFT_SEED")
CHUNK = 100


def _chunks(count: int) -> list[range]:
    if ONE_SEED is not None:
        return [range(int(ONE_SEED), int(ONE_SEED) + 1)]
    return [range(first, min(first + CHUNK, count)) for first in range(0, count, CHUNK)]


def _run(seeds: range, membership: bool) -> dict[str, int]:
    totals = {"leaders": 0, "snapshots_installed": 0, "committed": 0}
    for seed in seeds:
        try:
            sim = run_random_schedule(seed, membership=membership)
        except SimulationFailure as failure:
            flag = " KAFKAPY_RAFT_MEMBERSHIP=1" if membership else ""
            pytest.fail(f"{failure}\nreproduce: KAFKAPY_RAFT_SEED={seed}{flag} "
                        f"pytest tests/kraft/test_simulation.py", pytrace=False)
        totals["leaders"] += len(sim.leaders)
        totals["snapshots_installed"] += sum(n.snapshots_installed for n in sim.nodes.values())
        totals["committed"] += sim.committed_end
    return totals


@pytest.mark.parametrize("seeds", _chunks(SEEDS), ids=lambda r: f"seeds{r.start}-{r.stop - 1}")
def test_random_schedules(seeds: range) -> None:
    totals = _run(seeds, membership=bool(os.environ.get("KAFKAPY_RAFT_MEMBERSHIP")))
    # Every schedule elects at least once (the last check demands a leader) and commits.
    assert totals["leaders"] >= len(seeds)
    assert totals["committed"] >= len(seeds)
    if len(seeds) == CHUNK:
        assert totals["snapshots_installed"] > 0, "no schedule made a follower fetch a snapshot"


@pytest.mark.parametrize("seeds", _chunks(SEEDS // 4) if ONE_SEED is None else [],
                         ids=lambda r: f"seeds{r.start}-{r.stop - 1}")
def test_random_schedules_with_voter_changes(seeds: range) -> None:
    totals = _run(seeds, membership=True)
    assert totals["leaders"] >= len(seeds)


@settings(max_examples=60, deadline=None, derandomize=False)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), membership=st.booleans(),
       duration_ms=st.integers(min_value=500, max_value=8000))
def test_hypothesis_schedules(seed: int, membership: bool, duration_ms: int) -> None:
    run_random_schedule(seed, duration_ms, membership=membership)


def test_the_checker_catches_double_votes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node that votes twice in one epoch must be caught: the invariants can fail."""
    monkeypatch.setattr(quorum_state.VotedState, "can_grant_vote", lambda self, c, up_to_date, pre: True)
    with pytest.raises(SimulationFailure, match="two leaders in epoch|committed"):
        for seed in range(200):
            run_random_schedule(seed)


def test_the_checker_catches_an_early_high_watermark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing a high watermark before the epoch start offset is replicated breaks monotonicity."""
    from kafkapy.kraft.raft import leader_state

    def eager(self: leader_state.LeaderState) -> bool:
        voters = self.voters.last
        offsets = sorted((self.local_end_offset if v == self.local.id else
                          (self.replicas[v].end_offset if v in self.replicas else -1) for v in voters.ids),
                         reverse=True)
        candidate = offsets[voters.majority - 1]
        if candidate > 0 and (self.high_watermark is None or candidate > self.high_watermark):
            self.high_watermark = candidate
            return True
        return False

    monkeypatch.setattr(leader_state.LeaderState, "maybe_update_high_watermark", eager)
    with pytest.raises(SimulationFailure):
        for seed in range(200):
            run_random_schedule(seed)
