"""A new streams group's initial rebalance delay (``group.streams.initial.rebalance.delay.ms``),
on kafkapy and on Apache Kafka 4.4 with the same raw StreamsGroupHeartbeat requests.

Until the delay ends, every heartbeat answers the ASSIGNMENT_DELAYED status and no
tasks, at member epoch 1 (the new group's target assignment epoch); a second member
joining meanwhile waits too; after the delay both members get their tasks in one
assignment, at the epoch of the second join. Which member gets which task is not
compared (both brokers give each member one of the two).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from compat_tests.brokers import DEPS, start_reference
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Q
from tests.streams_groups.conversation import joiner, wait_for_coordinator

VERSION = "4.4.0"
#: Long enough for the three requests made within it on a loaded machine.
DELAY_MS = 5000
CONFIG = {"offsets.topic.num.partitions": "1", "group.streams.initial.rebalance.delay.ms": str(DELAY_MS)}
#: Kafka computes each assignment at once otherwise, as kafkapy does.
KAFKA_ONLY = {"group.streams.assignment.interval.ms": "0", "group.streams.assignor.offload.enable": "false"}

pytestmark = pytest.mark.skipif(not (DEPS / f"kafka-{VERSION}" / "libs" / f"kafka_2.13-{VERSION}.jar").exists(),
                                reason="Apache Kafka 4.4 jars not installed (compat_tests/install.sh)")


@pytest.fixture(scope="module")
def brokers() -> Iterator[dict[str, str]]:
    reference = start_reference(version=VERSION, overrides={**CONFIG, **KAFKA_ONLY})
    try:
        with Broker(CONFIG) as ours:
            yield {"kafkapy": ours.bootstrap_servers, "kafka": reference.bootstrap}
    finally:
        reference.stop()


def _scenario(bootstrap: str) -> list[Any]:
    group = f"app-{uuid.uuid4().hex[:6]}"
    source = f"src-{group}"
    topology = Q.Topology(epoch=0, subtopologies=[Q.Subtopology(subtopology_id="0", source_topics=[source])])
    out: list[Any] = []
    with KafkaConnection(bootstrap, timeout_s=30) as conn:
        created = conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name=source, num_partitions=2, replication_factor=1)], timeout_ms=30000), 5)
        assert created.topics[0].error_code == 0
        deadline = time.monotonic() + 60
        wait_for_coordinator(conn, group, deadline)
        join = joiner(conn, group, topology)

        def beat(member: str, epoch: int) -> Any:
            return conn.request(Q(group_id=group, member_id=member, member_epoch=epoch), 1)

        def seen(label: str, r: Any) -> None:
            out.append((label, r.error_code, r.member_epoch, [(s.status_code, s.status_detail) for s in r.status or []],
                        None if r.active_tasks is None else sum(len(t.partitions) for t in r.active_tasks)))

        first = join("m1", "p1")
        while first.error_code in (14, 15, 16) and time.monotonic() < deadline:  # the coordinator still loading
            time.sleep(0.3)
            first = join("m1", "p1")
        seen("join", first)
        r1 = beat("m1", first.member_epoch)
        seen("heartbeat during the delay", r1)
        r2 = join("m2", "p2")
        seen("second join during the delay", r2)
        time.sleep(DELAY_MS / 1000 + 0.5)
        after1 = beat("m1", r1.member_epoch)
        seen("m1 after the delay", after1)
        seen("m2 after the delay", beat("m2", r2.member_epoch))
        seen("m1 once more", beat("m1", after1.member_epoch))
    return out


def test_initial_rebalance_delay_matches_kafka_4_4(brokers: dict[str, str]) -> None:
    ours, theirs = _scenario(brokers["kafkapy"]), _scenario(brokers["kafka"])
    assert ours == theirs
    assert ours[0][3] == [(5, "Assignment delayed due to the configured initial rebalance delay.")]
