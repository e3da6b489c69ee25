"""The leader's view of its followers and the follower's truncation rule, on real logs
(memory backend), without a network: high watermark over the maximal ISR, when a
follower joins or leaves the ISR, and where a diverged follower cuts its log."""

from __future__ import annotations

import pytest

from kafkapy.broker.replica_fetcher import truncation_offset
from kafkapy.broker.replica_manager import Partition, ReplicaState, TopicPartition
from kafkapy.config import DEFAULT_LOG_CONFIG
from kafkapy.kraft.metadata.image import PartitionRegistration
from kafkapy.storage.partition_log import PartitionLog
from tests.storage.batches import batch


def _log(epochs: list[tuple[int, int]]) -> PartitionLog:
    """A memory log with ``count`` records written in each ``(leader epoch, count)``."""
    log = PartitionLog.open(None, "t", 0, DEFAULT_LOG_CONFIG, now_ms=0)
    for epoch, count in epochs:
        for _ in range(count):
            log.append(batch(1), leader_epoch=epoch, now_ms=0)
    return log


def _leader(isr: tuple[int, ...], log: PartitionLog, *, replicas: tuple[int, ...] = (1, 2, 3),
            leader_epoch: int = 5) -> Partition:
    registration = PartitionRegistration(replicas=replicas, isr=isr, leader=1, leader_epoch=leader_epoch,
                                         partition_epoch=7)
    partition = Partition(TopicPartition("t", 0), b"\0" * 16, registration, log, node_id=1)
    log.leader_epoch_cache.assign(leader_epoch, log.log_end_offset)
    partition.reset_replica_states(now_ms=1_000)
    return partition


def test_high_watermark_waits_for_every_isr_member():
    log = _log([(5, 10)])
    partition = _leader((1, 2, 3), log)
    assert not partition.maybe_increment_high_watermark()  # followers' offsets unknown
    assert partition.update_follower_fetch(2, 10, now_ms=1_100) is False
    assert log.high_watermark == 0
    assert partition.update_follower_fetch(3, 4, now_ms=1_100) is True
    assert log.high_watermark == 4
    partition.update_follower_fetch(3, 10, now_ms=1_200)
    assert log.high_watermark == 10
    partition.update_follower_fetch(3, 8, now_ms=1_300)  # a follower that truncated
    assert log.high_watermark == 10, "the high watermark never goes back"


def test_a_replica_outside_the_isr_does_not_hold_the_high_watermark_back():
    log = _log([(5, 6)])
    partition = _leader((1, 2), log)
    partition.update_follower_fetch(2, 6, now_ms=1_100)
    assert log.high_watermark == 6
    partition.update_follower_fetch(3, 0, now_ms=1_100)
    assert log.high_watermark == 6


def test_a_pending_expansion_counts_at_once_and_a_pending_shrink_until_committed():
    log = _log([(5, 6)])
    partition = _leader((1, 2, 3), log)
    partition.update_follower_fetch(2, 6, now_ms=1_100)
    partition.update_follower_fetch(3, 2, now_ms=1_100)
    assert log.high_watermark == 2
    partition.pending_isr = (1, 2)  # asked the controller to drop 3
    partition.maybe_increment_high_watermark()
    assert log.high_watermark == 2, "3 holds the high watermark until the controller removed it"
    partition.isr, partition.pending_isr = (1, 2), None
    assert partition.maybe_increment_high_watermark()
    assert log.high_watermark == 6


def test_follower_in_sync_needs_the_high_watermark_and_the_leader_epoch_start():
    log = _log([(3, 4), (5, 0)])
    partition = _leader((1, 2), log)
    partition.update_follower_fetch(2, 4, now_ms=1_100)
    assert log.high_watermark == 4
    partition.update_follower_fetch(3, 3, now_ms=1_100)
    assert not partition.follower_in_sync(3)
    partition.update_follower_fetch(3, 4, now_ms=1_200)
    assert partition.follower_in_sync(3)


def test_out_of_sync_replicas_by_last_caught_up_time():
    log = _log([(5, 10)])
    partition = _leader((1, 2, 3), log)
    # Both ISR members count as caught up when the leadership started (t=1000).
    assert partition.out_of_sync_replicas(now_ms=1_500, lag_max_ms=1_000) == ()
    partition.update_follower_fetch(2, 10, now_ms=1_800)  # fetched the whole log
    partition.update_follower_fetch(3, 3, now_ms=1_800)   # behind
    assert partition.out_of_sync_replicas(now_ms=2_500, lag_max_ms=1_000) == (3,)


def test_replica_state_caught_up_as_of_its_previous_fetch():
    """Kafka's rule: reaching the end the leader had at the previous fetch means caught
    up as of that fetch, even if the leader has moved on since."""
    state = ReplicaState(last_caught_up_ms=0)
    state.update_fetch_state(fetch_offset=5, leader_end_offset=10, now_ms=100)
    assert state.last_caught_up_ms == 0
    state.update_fetch_state(fetch_offset=10, leader_end_offset=15, now_ms=200)
    assert state.last_caught_up_ms == 100
    state.update_fetch_state(fetch_offset=15, leader_end_offset=15, now_ms=300)
    assert state.last_caught_up_ms == 300


@pytest.mark.parametrize(("follower", "diverging", "expected"), [
    # The follower wrote 3 records in epoch 2 that the new leader never had: epoch 2
    # ends at 5 on the leader, at 8 on the follower.
    ([(1, 5), (2, 3)], (2, 5), 5),
    # The follower knows only an older epoch than the leader's answer: cut where its
    # own epoch 1 ends, and let the next fetch narrow it.
    ([(1, 5), (3, 2)], (2, 6), 5),
    # Every record the follower has is of an epoch newer than the leader's answer: none
    # of them can be the leader's, the whole log goes (Kafka: the follower's end of an
    # epoch before its first is its first offset).
    ([(4, 5)], (2, 3), 0),
    # No epoch at all in the answer: keep up to the leader's end offset.
    ([(1, 5)], (-1, 2), 2),
])
def test_truncation_offset(follower, diverging, expected):
    log = _log(follower)
    assert truncation_offset(log, *diverging) == expected
    log.truncate_to(expected, now_ms=0)
    assert log.log_end_offset == expected
