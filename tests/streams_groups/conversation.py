"""Raw StreamsGroupHeartbeat conversations shared by the reference comparisons."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest as Q


def wait_for_coordinator(conn: KafkaConnection, group: str, deadline: float) -> None:
    """FindCoordinator until the group's coordinator is known (a fresh broker makes
    ``__consumer_offsets`` first)."""
    while conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=[group]), 4) \
            .coordinators[0].error_code and time.monotonic() < deadline:
        time.sleep(0.3)


def joiner(conn: KafkaConnection, group: str, topology: Any) -> Callable[[str, str], Any]:
    """A function sending a member's first heartbeat (epoch 0) with ``topology``."""
    def join(member: str, process: str) -> Any:
        return conn.request(Q(group_id=group, member_id=member, member_epoch=0, rebalance_timeout_ms=30000,
                              topology=topology, process_id=process, active_tasks=[], standby_tasks=[],
                              warmup_tasks=[]), 1)
    return join
