"""A follower that fell behind its leader's local log rebuilds from the remote tier
(KIP-405's OFFSET_MOVED_TO_TIERED_STORAGE), on a cluster of ``kafkapy serve`` processes
sharing one ``local`` tier directory (the object store every broker sees)."""

from __future__ import annotations

import os
from pathlib import Path

from kafkapy.config import BrokerConfig
from kafkapy.testing.cluster import Cluster
from tests.tiered.clients import EARLIEST, EARLIEST_LOCAL, LATEST_TIERED, consume, list_offset, produce
from tests.tiered.conftest import SEGMENT_BYTES, local_tier, tiered_properties, wait_for

TIERED = {"remote.storage.enable": "true", "internal.segment.bytes": str(SEGMENT_BYTES),
          "local.retention.bytes": str(2 * SEGMENT_BYTES)}
FIRST, SECOND = 300, 2000


def test_a_follower_behind_the_leaders_local_log_rebuilds_from_the_remote_tier(tmp_path: Path, topic: str) -> None:
    config = tiered_properties(tmp_path, local_tier(tmp_path / "remote"),
                               # the stopped follower leaves the ISR soon, so acks=all writes go on
                               **{BrokerConfig.field_name("replica_lag_time_max_ms"): "3000"})
    del config["log.dirs"]
    # Three voters, so the quorum outlives a stopped node; the topic has two replicas.
    with Cluster(3, config, timeout_s=120) as cluster:
        cluster.create_topics(topic, replication_factor=2, config=TIERED)
        leader = wait_for(lambda: max(cluster.leader_of(topic), 0), what="a leader")
        follower = next(r for r in cluster.partition_state(topic).replicas if r != leader)
        bootstrap = cluster.nodes[leader].bootstrap_servers
        # A first segment tiered while both run: __remote_log_metadata has both as replicas.
        produce(bootstrap, topic, FIRST)
        wait_for(lambda: list_offset(bootstrap, topic, LATEST_TIERED)[1] >= 0, what="a first copy")
        cluster.stop_node(follower)
        produce(bootstrap, topic, SECOND)
        wait_for(lambda: list_offset(bootstrap, topic, EARLIEST_LOCAL)[1] > FIRST + SECOND // 2,
                 what="the leader's local log to move past the follower")

        cluster.restart_node(follower)
        wait_for(lambda: sorted(cluster.partition_state(topic).isr) == sorted([leader, follower]), timeout_s=60,
                 what="the follower back in sync")
        directory = Path(cluster.data_dir) / f"node-{follower}" / "data" / f"{topic}-0"
        bases = sorted(int(f[:20]) for f in os.listdir(directory) if f.endswith(".log"))
        assert bases[0] > FIRST  # restarted past the remote tier, not from its old log end
        # with the producer state uploaded with the last remote segment
        assert (directory / f"{bases[0]:020d}.snapshot").exists()

        # The rebuilt follower leads and serves the whole log, both tiers.
        cluster.stop_node(leader)
        wait_for(lambda: cluster.leader_of(topic) == follower, what="the follower to lead")
        new_bootstrap = cluster.nodes[follower].bootstrap_servers
        assert list_offset(new_bootstrap, topic, EARLIEST)[1] == 0
        records = consume(new_bootstrap, topic, FIRST + SECOND, timeout_s=90)
        values = [int(v.rstrip(b".")) for _, v in records]
        assert values == list(range(FIRST)) + list(range(SECOND))
