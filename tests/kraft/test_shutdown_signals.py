"""SIGTERM and SIGINT stop a ``kafkapy serve`` node in every phase, in Kafka's order.

Start-up (here: a voter waiting for a quorum whose peers never come, and a broker
whose registration the controller refuses while its previous incarnation's session
lives) stops at once; a running node stops gracefully: its broker's controlled
shutdown, then, if it is the active controller, its resignation (EndQuorumEpoch,
KIP-595), so another voter leads at once. Every wait is bounded, so a node that
ignored the signal fails the test instead of hanging it; no timing is asserted.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from kafkapy.config import BrokerConfig
from kafkapy.testing import Cluster
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.metadata import MetadataRequest
from tests.kraft.test_cluster_processes import quorum_leader, until

#: How long a signalled node may take to exit before the test calls it a hang.
EXIT_BOUND_S = 10.0
#: What the lifecycle logs each time the controller refuses a new incarnation.
DUPLICATE_LINE = "previous incarnation still registered"
SESSION_TIMEOUT = BrokerConfig.field_name("broker_session_timeout_ms")


def signal_and_wait(node: Any, sig: int) -> int | None:
    """Send ``sig`` and wait (bounded) for the exit; the exit status, or None if it hung."""
    node.proc.send_signal(sig)
    try:
        return int(node.proc.wait(EXIT_BOUND_S))
    except Exception:  # subprocess.TimeoutExpired: the node ignored the signal
        node.proc.kill()
        node.proc.wait()
        return None


def brokers_listed(node: Any) -> set[int]:
    with KafkaConnection(node.bootstrap_servers, timeout_s=5) as conn:
        return {b.node_id for b in conn.request(MetadataRequest(topics=[]), 4).brokers}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_a_voter_waiting_for_its_quorum(tmp_path, sig):
    """One voter of three, its peers never started: it can elect no one and serves no
    client, and a signal still ends it."""
    cluster = Cluster(3, data_dir=str(tmp_path))
    try:
        node = cluster.nodes[1]
        node.start()
        until("the controller listener bound", lambda: "Awaiting socket connections" in node.output() or None)
        time.sleep(0.5)  # into the wait for a leader
        assert "kafkapy ready" not in node.output()
        assert signal_and_wait(node, sig) == 0, node.output()
        assert "kafkapy stopped" in node.output()
    finally:
        cluster.stop()


def test_sigterm_stops_a_broker_refused_by_the_controller(tmp_path):
    """A node killed and restarted at once: the controller refuses its new incarnation
    while the old one's session lives (Kafka's DUPLICATE_BROKER_REGISTRATION); a
    SIGTERM then stops it without waiting for the registration."""
    with Cluster(3, config={SESSION_TIMEOUT: "30000"}, data_dir=str(tmp_path)) as cluster:
        leader, _ = quorum_leader(cluster)
        victim = next(i for i in cluster.nodes if i != leader)
        node = cluster.nodes[victim]
        cluster.kill_node(victim)
        node.start()
        until("a refused registration", lambda: DUPLICATE_LINE in node.output() or None, timeout_s=30)
        assert signal_and_wait(node, signal.SIGTERM) == 0, node.output()
        assert "kafkapy ready" not in node.output()


def test_active_controller_resigns_on_sigterm_and_another_node_leads(tmp_path):
    """The active controller's own controlled shutdown goes through its own controller
    (its quorum and listeners still run), then it resigns; another node leads, the
    stopped broker is fenced, and restarted at once it registers on its first attempt
    (a fenced registration does not hold the id)."""
    with Cluster(3, data_dir=str(tmp_path)) as cluster:
        leader, _ = quorum_leader(cluster)
        node = cluster.nodes[leader]
        assert signal_and_wait(node, signal.SIGTERM) == 0, node.output()
        out = node.output()
        assert "controlled shutdown complete" in out, out
        assert f"Node {leader} resigning as the quorum leader" in out, out
        new_leader, _ = quorum_leader(cluster)
        assert new_leader != leader
        other = cluster.nodes[new_leader]
        until("the stopped broker fenced", lambda: leader not in brokers_listed(other) or None)

        cluster.restart_node(leader)
        assert DUPLICATE_LINE not in node.output(), node.output()
        until("every broker listed", lambda: brokers_listed(other) == set(cluster.nodes) or None)


def test_follower_stops_gracefully_and_the_quorum_keeps_its_leader(tmp_path):
    with Cluster(3, data_dir=str(tmp_path)) as cluster:
        leader, _ = quorum_leader(cluster)
        follower = next(i for i in cluster.nodes if i != leader)
        node = cluster.nodes[follower]
        assert signal_and_wait(node, signal.SIGTERM) == 0, node.output()
        assert "controlled shutdown complete" in node.output(), node.output()
        assert "resigning" not in node.output()
        assert quorum_leader(cluster)[0] == leader
        cluster.restart_node(follower)
        assert DUPLICATE_LINE not in node.output(), node.output()
