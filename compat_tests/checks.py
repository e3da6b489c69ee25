"""Checks shared by the Python drivers; each takes what the client consumed, normalised.

Normalised records are plain tuples of str/int/None so that confluent-kafka,
kafka-python, aiokafka and kcat are held to exactly the same expectations.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from compat_tests import scenarios as sc
from compat_tests.driver import expect, expect_eq


def codec(records: list[tuple[int, str | None, str]]) -> str:
    """records: (offset, key, value) consumed from partition 0."""
    expected = [(i, *sc.codec_record(i)) for i in range(sc.CODEC_COUNT)]
    expect_eq(records, expected, "consumed (offset, key, value)")
    return f"{len(records)} records"


def keys(records: list[tuple[int, int, str | None, str]], partitions: int) -> str:
    """records: (partition, offset, key, value) from every partition of the topic."""
    expected = sorted((sc.keys_record(i) for i in range(sc.KEYS_COUNT)), key=repr)
    got = sorted(((k, v) for _, _, k, v in records), key=repr)
    expect_eq(got, expected, "consumed (key, value) multiset")
    by_key: dict[str | None, list[tuple[int, int, str]]] = defaultdict(list)
    for partition, offset, key, value in records:
        by_key[key].append((partition, offset, value))
    for key, items in by_key.items():
        if key is None:
            continue
        expect(len({p for p, _, _ in items}) == 1, f"key {key!r} spread over partitions {items}")
        in_log_order = [v for _, _, v in sorted(items)]
        produced = [v for k, v in (sc.keys_record(i) for i in range(sc.KEYS_COUNT)) if k == key]
        expect_eq(in_log_order, produced, f"order of key {key!r}")
    used = len({p for p, _, _, _ in records})
    return f"{len(records)} records over {used} of {partitions} partitions"


def headers(records: list[tuple[int, list[tuple[str, str]]]]) -> str:
    """records: (offset, [(header name, header value as text)])."""
    expect_eq(len(records), sc.HEADERS_COUNT, "record count")
    for offset, hdrs in records:
        expect_eq(hdrs, sc.HEADERS, f"headers at offset {offset}")
    return f"{len(sc.HEADERS)} headers x {len(records)} records"


def timestamps(records: list[tuple[int, int, bool]], base: int) -> str:
    """records: (offset, timestamp, timestamp type is CreateTime)."""
    expected = [(i, ts, True) for i, ts in enumerate(sc.timestamps_of(base))]
    expect_eq(records, expected, "(offset, timestamp, is CreateTime)")
    return "CreateTime round trip"


def large(value: bytes | None, expected: bytes) -> str:
    expect(value is not None, "no value consumed")
    expect_eq(len(value), len(expected), "value length")
    expect(value == expected, "value bytes differ")
    return f"{len(value)} bytes"


def group_resume(first: list[int], committed: int | None, second: list[int]) -> str:
    """Offsets read by the first and second consumer, and the committed offset seen."""
    expect_eq(first, list(range(sc.GROUP_FIRST)), "first consumer offsets")
    if committed is not None:
        expect_eq(committed, sc.GROUP_FIRST, "committed offset")
    expect_eq(second, list(range(sc.GROUP_FIRST, sc.GROUP_TOTAL)), "second consumer offsets")
    return f"resumed at {second[0]}" + ("" if committed is None else f", committed {committed}")


def idempotent(records: list[tuple[int, str]]) -> str:
    expected = [(i, f"idem-{i}") for i in range(sc.IDEMPOTENT_COUNT)]
    expect_eq(records, expected, "(offset, value)")
    return f"{len(records)} records exactly once"


def transactions(committed: list[tuple[int, str]], uncommitted: list[tuple[int, str]]) -> str:
    """Records read with read_committed and with read_uncommitted, as (offset, value)."""
    values = sc.TXN_COMMITTED_1 + sc.TXN_COMMITTED_2
    expect_eq(committed, list(zip(sc.TXN_COMMITTED_OFFSETS, values)), "read_committed")
    all_values = sc.TXN_COMMITTED_1 + sc.TXN_ABORTED + sc.TXN_COMMITTED_2
    expect_eq([v for _, v in uncommitted], all_values, "read_uncommitted values")
    return "abort hidden from read_committed, visible to read_uncommitted"


def offsets_for_times(found: list[tuple[int, int | None]], base: int) -> str:
    """found: (timestamp looked up, offset returned or None)."""
    expect_eq(found, sc.offsets_for_times_queries(base), "(timestamp, offset)")
    return f"{len(found)} lookups"


def seek(end_position: int, after_end: tuple[int, str], beginning: int, absolute: int) -> str:
    expect_eq(end_position, sc.SEEK_COUNT, "position after seek to end")
    expect_eq(after_end, (sc.SEEK_COUNT, "after-end"), "record read after seek to end")
    expect_eq(beginning, 0, "offset read after seek to beginning")
    expect_eq(absolute, 3, "offset read after seek to 3")
    return "end, beginning, absolute"


def failover(acked: dict[int, int | None], sent: int, after_from: int,
             consumed: list[tuple[int, str]], failures: list[str], fault: str) -> str:
    """The failover stream: ``acked`` maps each acknowledged sequence number to the offset
    the acknowledgement named (None when the client does not report it); records
    0..``sent``-1 were sent, those from ``after_from`` on after the harness answered;
    ``consumed`` is what the consumer read, (offset, value), in the order it read them.

    The log as the consumer saw it is its reads by offset: a consumer may read an offset
    again (a group consumer that rejoins without a commit starts over), never with
    another value. In that log every acknowledged record is once, at its acknowledged
    offset, and the records are in the order they were sent.
    """
    by_offset: dict[int, str] = {}
    conflicts = []
    for offset, value in consumed:
        if by_offset.setdefault(offset, value) != value:
            conflicts.append((offset, by_offset[offset], value))
    expect(not conflicts, f"different records read at the same offset (offset, first, then): {conflicts[:5]}")
    log = [(offset, int(by_offset[offset].removeprefix("fo-"))) for offset in sorted(by_offset)]
    counts = Counter(seq for _, seq in log)
    duplicated = sorted(s for s, n in counts.items() if n > 1)
    expect(not duplicated, f"records in the log more than once: {duplicated[:10]}")
    reordered = [(a, b) for (_, a), (_, b) in zip(log, log[1:]) if b < a]
    expect(not reordered, f"records out of order in the log (seq, then seq): {reordered[:5]}")
    at = {seq: offset for offset, seq in log}
    lost = sorted(set(acked) - set(at))
    expect(not lost, f"{len(lost)} of {len(acked)} acknowledged records never consumed: {lost[:10]}")
    moved = [(s, o, at[s]) for s, o in sorted(acked.items()) if o is not None and o >= 0 and at[s] != o]
    expect(not moved, f"acknowledged at one offset, consumed at another (seq, acked, consumed): {moved[:5]}")
    late = [s for s in range(after_from, sent) if s not in acked]
    expect(not late, f"{len(late)} of the {sent - after_from} records sent after the fault not acknowledged;"
                     f" errors: {failures[:3]}")
    unacked = sent - len(acked)
    reread = len(consumed) - len(by_offset)
    return (f"{len(acked)} acknowledged records ({sent - after_from} after the fault"
            f"{f', {unacked} unacknowledged during it' if unacked else ''}) consumed exactly once, in order"
            f"{f' ({reread} reads of an offset read before)' if reread else ''}; {fault}")


def share_distinct(received: list[list[int]]) -> str:
    """received: the offsets each share consumer of the share_distinct scenario got."""
    offsets = sorted(o for mine in received for o in mine)
    expect_eq(offsets, list(range(sc.SHARE_DISTINCT_COUNT)), "offsets delivered, all consumers together")
    counts = [len(mine) for mine in received]
    expect(sum(1 for n in counts if n) >= 2, f"one consumer got every record: {counts}")
    return f"{len(offsets)} records once each, per consumer {counts}"


def share_deliveries(got: list[tuple[int, str | None, int | None]], expected: list[tuple[int, str, int]],
                     what: str) -> None:
    """got: (offset, value, delivery count) as delivered, in order; a client that does not
    expose the delivery count gives None, and only offsets and values are compared."""
    if any(count is None for _, _, count in got):
        got, expected = [g[:2] for g in got], [e[:2] for e in expected]
    expect_eq(got, expected, f"{what} (offset, value, delivery count)")


def share_redelivered(got: list[tuple[int, str | None, int | None]], expected: list[tuple[int, str]], what: str) -> None:
    """got: (offset, value, delivery count); the records ``expected`` (offset, value), each
    delivered before (a count of 2 or more, where the client exposes it)."""
    expect_eq([g[:2] for g in got], expected, f"{what} (offset, value)")
    once = [g for g in got if g[2] is not None and g[2] < 2]
    expect(not once, f"{what}: delivery count below 2: {once}")
