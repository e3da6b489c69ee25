"""Scripted Raft scenarios in etcd's style: ``tests/kraft/scenarios/*.txt``.

Each file is a sequence of blocks::

    command arg key=value
    ----
    expected output

separated by blank lines; ``#`` starts a comment line. The nodes run in the
simulation's manual mode: every node has its own clock, moved only by ``tick``, and
messages wait until ``stabilize`` delivers them (and everything they cause) in order.
``KAFKAPY_REWRITE=1`` rewrites the expected outputs from the actual ones; review the
diff before committing.

Commands: ``start voters=1,2,3 [observers=4]``, ``elect N`` (time out node N and
stabilize), ``tick N ms=M``, ``stabilize``, ``state``, ``log N``, ``propose N a,b``,
``partition N[,M]`` (cut N's links), ``heal``, ``crash N``, ``restart N``,
``snapshot N``, ``resign N``, ``add-voter N``, ``remove-voter N``, ``describe N``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kafkapy.kraft.raft.leader_state import LeaderState
from kafkapy.kraft.raft.messages import AddRaftVoterRequest, RemoveRaftVoterRequest
from kafkapy.kraft.raft.simulation import Simulation, describe

SCENARIOS = Path(__file__).parent / "scenarios"
ELECTION_TIMEOUT_MS = 1000


class Script:
    """Runs scenario commands against a manual-mode simulation."""

    def __init__(self) -> None:
        self.sim: Simulation | None = None

    def run(self, line: str) -> list[str]:
        name, *args = line.split()
        positional = [a for a in args if "=" not in a]
        options = dict(a.split("=", 1) for a in args if "=" in a)
        return getattr(self, "cmd_" + name.replace("-", "_"))(positional, options)

    @property
    def s(self) -> Simulation:
        assert self.sim is not None, "start first"
        return self.sim

    def cmd_start(self, args: list[str], opts: dict[str, str]) -> list[str]:
        voters = [int(v) for v in opts["voters"].split(",")]
        observers = [int(v) for v in opts["observers"].split(",")] if "observers" in opts else []
        self.sim = Simulation(0, voters, observers, mode="manual", election_timeout_ms=ELECTION_TIMEOUT_MS)
        return self.cmd_state([], {})

    def cmd_state(self, args: list[str], opts: dict[str, str]) -> list[str]:
        out = []
        for node_id, node in sorted(self.s.nodes.items()):
            raft = node.raft
            if raft is None:
                out.append(f"{node_id}: crashed")
                continue
            state = raft.state
            voted = state.voted_key.id if state.voted_key is not None else "-"
            leader = state.leader_id if state.leader_id is not None else "-"
            hw = raft.high_watermark if raft.high_watermark is not None else "-"
            out.append(
                f"{node_id}: {state.name} epoch={state.epoch} leader={leader} voted={voted} hw={hw} "
                f"log=[{node.log.log_start_offset},{node.log.end_offset}) "
                f"voters={','.join(map(str, sorted(raft.voters.ids)))} applied={node.applied_offset}")
        return out

    def cmd_elect(self, args: list[str], opts: dict[str, str]) -> list[str]:
        return self.cmd_tick(args, {"ms": str(2 * ELECTION_TIMEOUT_MS)}) + self.cmd_stabilize([], {})

    def cmd_tick(self, args: list[str], opts: dict[str, str]) -> list[str]:
        node_id = int(args[0])
        self.s.tick_node(node_id, int(opts["ms"]))
        return [line for line in self.cmd_state([], {}) if line.startswith(f"{node_id}:")]

    def cmd_stabilize(self, args: list[str], opts: dict[str, str]) -> list[str]:
        out = []
        for envelope, arrived in self.s.deliver():
            suffix = "" if arrived else "  (dropped)"
            out.append(f"{envelope.source_id}->{envelope.destination_id} {describe(envelope.body)}{suffix}")
        for envelope in self.s.responses:
            out.append(f"{envelope.source_id}->client {describe(envelope.body)}")
        self.s.responses.clear()
        return out or ["(no messages)"]

    def cmd_log(self, args: list[str], opts: dict[str, str]) -> list[str]:
        log = self.s.nodes[int(args[0])].log
        snapshot = log.latest_snapshot()
        out = [f"snapshot {snapshot.snapshot_id.offset}-{snapshot.snapshot_id.epoch}"] if snapshot else []
        for entry in log.read(log.log_start_offset, log.end_offset):
            value = entry.value.decode() if isinstance(entry.value, bytes) else describe(entry.value)
            out.append(f"{entry.offset}@{entry.epoch} {value}")
        return out or ["(empty)"]

    def cmd_propose(self, args: list[str], opts: dict[str, str]) -> list[str]:
        result = self.s.propose(int(args[0]), [v.encode() for v in args[1].split(",")])
        return [str(getattr(result, "name", result))]

    def cmd_partition(self, args: list[str], opts: dict[str, str]) -> list[str]:
        self.s.isolate(int(v) for v in args[0].split(","))
        return ["ok"]

    def cmd_heal(self, args: list[str], opts: dict[str, str]) -> list[str]:
        self.s.heal()
        return ["ok"]

    def cmd_crash(self, args: list[str], opts: dict[str, str]) -> list[str]:
        self.s.crash(int(args[0]))
        return ["ok"]

    def cmd_restart(self, args: list[str], opts: dict[str, str]) -> list[str]:
        self.s.start(int(args[0]))
        return [line for line in self.cmd_state([], {}) if line.startswith(f"{args[0]}:")]

    def cmd_snapshot(self, args: list[str], opts: dict[str, str]) -> list[str]:
        snapshot_id = self.s.take_snapshot(int(args[0]))
        return [f"{snapshot_id.offset}-{snapshot_id.epoch}" if snapshot_id else "nothing to snapshot"]

    def cmd_resign(self, args: list[str], opts: dict[str, str]) -> list[str]:
        self.s.resign(int(args[0]))
        return [line for line in self.cmd_state([], {}) if line.startswith(f"{args[0]}:")]

    def _leader(self) -> int:
        leader = self.s.leader()
        assert leader is not None, "no leader"
        return leader

    def cmd_add_voter(self, args: list[str], opts: dict[str, str]) -> list[str]:
        voter = int(args[0])
        self.s.request(self._leader(), AddRaftVoterRequest("sim-cluster", 5000, voter, f"dir-{voter}", ()))
        return ["sent"]

    def cmd_remove_voter(self, args: list[str], opts: dict[str, str]) -> list[str]:
        self.s.request(self._leader(), RemoveRaftVoterRequest("sim-cluster", int(args[0]), f"dir-{args[0]}"))
        return ["sent"]

    def cmd_describe(self, args: list[str], opts: dict[str, str]) -> list[str]:
        raft = self.s.nodes[int(args[0])].raft
        assert raft is not None
        response = raft.describe_quorum()
        out = [(f"{response.error_code.name} leader={response.leader_id} epoch={response.leader_epoch} "
                f"hw={response.high_watermark}")]
        for kind, replicas in (("voter", response.current_voters), ("observer", response.observers)):
            out += [f"  {kind} {r.replica_id} log_end_offset={r.log_end_offset}" for r in replicas]
        if isinstance(raft.state, LeaderState):
            assert response.error_code.name == "NONE"
        return out


def parse(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) blocks; comments kept out."""
    blocks = []
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        command = lines[i].strip()
        if i + 1 >= len(lines) or lines[i + 1].strip() != "----":
            raise ValueError(f"expected ---- after {command!r}")
        i += 2
        output = []
        while i < len(lines) and lines[i].strip():
            output.append(lines[i].rstrip())
            i += 1
        blocks.append((command, output))
    return blocks


def render(text: str, results: list[tuple[str, list[str]]]) -> str:
    comments = [line for line in text.splitlines() if line.startswith("#")]
    body = "\n\n".join(f"{command}\n----\n" + "\n".join(output) for command, output in results)
    return ("\n".join(comments) + "\n\n" if comments else "") + body + "\n"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.txt")), ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    text = path.read_text()
    script = Script()
    results = [(command, script.run(command)) for command, _ in parse(text)]
    if os.environ.get("KAFKAPY_REWRITE"):
        path.write_text(render(text, results))
        return
    for (command, expected), (_, actual) in zip(parse(text), results):
        assert actual == expected, f"{path.name}: {command}"
    script.s.check_log_matching()


def test_scenarios_exist() -> None:
    assert len(list(SCENARIOS.glob("*.txt"))) >= 6
