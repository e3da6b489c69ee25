"""Raft core throughput: simulated schedules per second, and events per second inside them.

Run: .venv/bin/python benchmarks/raft.py [seeds]
"""

from __future__ import annotations

import sys
import time

from kafkapy.kraft.raft.simulation import Simulation, run_random_schedule


def schedules(seeds: int, membership: bool) -> None:
    start = time.perf_counter()
    events = 0
    for seed in range(seeds):
        events += run_random_schedule(seed, membership=membership).events
    elapsed = time.perf_counter() - start
    kind = "with voter changes" if membership else "static voters"
    print(f"random schedules ({kind}): {seeds} in {elapsed:.2f} s = {elapsed / seeds * 1000:.2f} ms/schedule, "
          f"{events / elapsed:,.0f} events/s")


def steady_commits(records: int) -> None:
    """A healthy 3-voter quorum on a 1 ms network: proposals committed per second of CPU."""
    sim = Simulation(0, (1, 2, 3), min_delay_ms=1, max_delay_ms=1)
    sim.run_until(lambda: sim.leader() is not None, 10_000)
    leader = sim.leader()
    assert leader is not None
    start = time.perf_counter()
    last = 0
    for i in range(records):
        result = sim.propose(leader, [b"record-%d" % i])
        assert isinstance(result, int)
        last = result
        sim.run_for(1)
    sim.run_until(lambda: all(n.applied_offset > last for n in sim.nodes.values()), 10_000)
    elapsed = time.perf_counter() - start
    print(f"steady state: {records} single-record proposals committed on 3 nodes in {elapsed:.2f} s "
          f"= {records / elapsed:,.0f} commits/s")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    schedules(n, membership=False)
    schedules(n // 2, membership=True)
    steady_commits(5000)
