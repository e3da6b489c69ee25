"""The Jepsen-style replication checker (compat_tests/jepsen.py): its judgement of
made-up histories, then short runs of its workload and faults on a kafkapy cluster and,
where the reference jars are installed, on Apache Kafka (which must pass too, or the
checker is wrong)."""

from __future__ import annotations

import struct

import pytest

from compat_tests.jepsen import History, check, replica_batches, run, start_cluster
from tests.reference import needs_reference


def _batch(base: int, count: int, fill: bytes = b"x") -> bytes:
    """A record batch's bytes as the checker reads them: baseOffset, batchLength, and
    lastOffsetDelta at byte 23 (the rest is filler)."""
    body = bytearray(fill * 49)
    struct.pack_into(">i", body, 23 - 12, count - 1)
    return struct.pack(">qi", base, len(body)) + bytes(body)


def _history(**acked: dict[int, bytes]) -> History:
    h = History()
    for name, offsets in acked.items():
        p = int(name[1:])
        for offset, value in offsets.items():
            h.acked[p][offset] = {value}
    return h


def _replicas(*batches: bytes) -> dict[int, dict[int, list[tuple[int, int, bytes]]]]:
    stream = [(struct.unpack_from(">q", b)[0], struct.unpack_from(">q", b)[0] + struct.unpack_from(">i", b, 23)[0],
               b) for b in batches]
    return {0: {1: list(stream), 2: list(stream), 3: list(stream)}}


FINAL = {0: {0: b"p0.0-0", 1: b"p0.0-1", 2: b"p1.0-0"}}
ENDS = {0: 3}
CLEAN = _replicas(_batch(0, 2), _batch(2, 1))


def test_a_clean_history_has_no_violation():
    h = _history(p0={0: b"p0.0-0", 1: b"p0.0-1", 2: b"p1.0-0"})
    h.reads[0] = {0: {b"p0.0-0"}, 2: {b"p1.0-0"}}
    h.watermarks[0] = [(0, 1), (0, 2), (1, 2), (0, 2), (1, 3)]  # (0, 2) after epoch 1: a stale leader
    verdict = check(h, FINAL, ENDS, CLEAN)
    assert verdict.violations == 0, verdict.examples
    assert (verdict.acknowledged, verdict.final_records, verdict.stale_hw_answers) == (3, 3, 1)


def test_an_acknowledged_record_not_at_its_offset_is_lost():
    h = _history(p0={1: b"p0.0-1", 3: b"p0.0-2"})
    h.acked[0][2] = {b"p1.0-0", b"p1.0-9"}  # two values acknowledged at one offset
    verdict = check(h, FINAL, ENDS, CLEAN)
    assert verdict.lost == 2 and verdict.violations == 2, verdict.examples


def test_duplicates_and_reordering_in_the_final_log():
    final = {0: {0: b"p0.0-1", 1: b"p0.0-0", 2: b"p0.0-1"}}
    verdict = check(History(), final, ENDS, CLEAN)
    assert verdict.duplicated == 1
    assert verdict.reordered == 1  # seq 0 after seq 1
    assert verdict.violations == 2


def test_duplicates_of_a_producer_whose_delivery_timed_out_are_counted_apart():
    """librdkafka sends again after an epoch bump what timed out: Kafka duplicates then too."""
    final = {0: {0: b"p0.0-1", 1: b"p0.0-0", 2: b"p0.0-1", 3: b"p1.0-0"}}
    h = History()
    h.failures[b"p0.0-7"] = "_MSG_TIMED_OUT"
    verdict = check(h, final, {0: 4}, CLEAN)
    assert (verdict.duplicated, verdict.reordered) == (0, 0)
    assert (verdict.duplicated_after_timeout, verdict.reordered_after_timeout) == (1, 1)
    assert verdict.violations == 0


def test_a_read_that_the_final_log_does_not_hold_is_a_phantom():
    h = History()
    h.reads[0] = {1: {b"p0.0-1", b"p0.0-7"}, 5: {b"p0.0-8"}}
    verdict = check(h, FINAL, ENDS, CLEAN)
    assert verdict.phantom_reads == 2 and verdict.violations == 2, verdict.examples


@pytest.mark.parametrize(("observed", "regressions"), [
    ([(0, 2), (0, 1)], 1),           # back within one epoch
    ([(0, 2), (1, 1)], 1),           # a later epoch's leader answers lower
    ([(1, 2), (0, 1)], 0),           # an older epoch's leader: stale, allowed
    ([(-1, 2), (-1, 1)], 1),         # no epoch: time order
    ([(0, 1), (0, 5)], 1),           # above the final log end (3)
])
def test_high_watermark_regressions(observed, regressions):
    h = History()
    h.watermarks[0] = observed
    assert check(h, FINAL, ENDS, CLEAN).hw_regressions == regressions


def test_replicas_must_hold_the_same_batches():
    diverged = _replicas(_batch(0, 2), _batch(2, 1))
    diverged[0][3][1] = (2, 2, _batch(2, 1, fill=b"y"))
    assert check(History(), FINAL, ENDS, diverged).replica_divergence == 1
    short = _replicas(_batch(0, 2), _batch(2, 1))
    short[0][2] = short[0][2][:1]
    assert check(History(), FINAL, ENDS, short).replica_divergence == 1


def test_replica_batches_reads_segments_in_order_and_skips_a_torn_tail(tmp_path):
    (tmp_path / "00000000000000000000.log").write_bytes(_batch(0, 2) + _batch(2, 3))
    (tmp_path / "00000000000000000005.log").write_bytes(_batch(5, 1) + _batch(6, 1)[:30])
    (tmp_path / "00000000000000000000.index").write_bytes(b"\0" * 8)
    assert [(base, last) for base, last, _ in replica_batches(str(tmp_path))] == [(0, 1), (2, 4), (5, 5)]


def test_kafkapy_survives_faults_with_no_violation():
    """One cycle of each fault (SIGKILL of a leader, a leader cut off, a paused leader)
    on a kafkapy cluster under idempotent acks=all load."""
    with start_cluster("kafkapy") as cluster:
        verdict = run(cluster, cycles=3, load_s=1.5)
    assert verdict.fault_cycles == 3
    assert verdict.acknowledged > 0 and verdict.final_records >= verdict.acknowledged
    assert verdict.violations == 0, "\n".join(verdict.examples + verdict.cycles + verdict.notes)


@needs_reference
def test_apache_kafka_passes_the_same_checker():
    """The checker's own proof: Apache Kafka (the reference, 4.4.0) shows no violation under the same faults."""
    with start_cluster("kafka") as cluster:
        verdict = run(cluster, cycles=3, load_s=1.5)
    assert verdict.fault_cycles == 3
    assert verdict.acknowledged > 0
    assert verdict.violations == 0, "\n".join(verdict.examples + verdict.cycles + verdict.notes)
