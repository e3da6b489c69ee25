"""confluent-kafka's share consumer (librdkafka's, KIP-932): the share scenarios of
compat_tests/scenarios.py, in explicit acknowledgement mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import AcknowledgeType as Ack
from confluent_kafka import Message, Producer, ShareConsumer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from compat_tests import checks
from compat_tests import scenarios as sc
from compat_tests.driver import Context, Failed, FaultRequest, expect, expect_eq
from compat_tests.python.confluent import TIMEOUT, _admin, _conf, _create_topic, _produce, _text

Delivery = tuple[int, "str | None", int]


def _setup(ctx: Context, **configs: str) -> tuple[str, str]:
    """A topic of one partition and a share group reading it from the start (and ``configs``)."""
    topic, group = _create_topic(ctx), ctx.name("sg")
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
               for k, v in {"share.auto.offset.reset": "earliest", **configs}.items()]
    client = _admin(ctx)
    for future in client.incremental_alter_configs([ConfigResource(ResourceType.GROUP, group,
                                                                   incremental_configs=entries)]).values():
        future.result(timeout=TIMEOUT)
    return topic, group


def _consumer(ctx: Context, group: str, topic: str, max_records: int = 500) -> ShareConsumer:
    c = ShareConsumer({**_conf(ctx), "group.id": group, "share.acknowledgement.mode": "explicit",
                       "max.poll.records": max_records})
    c.subscribe([topic])
    return c


def _poll(c: ShareConsumer) -> list[Message]:
    msgs = c.poll(0.2) or []
    errors = [m.error() for m in msgs if m.error() is not None]
    if errors:
        raise Failed(f"share consumer error: {errors[0]}")
    return msgs


def _deliveries(c: ShareConsumer, want: int, timeout: float, ack: Callable[[Message], Ack]) -> list[Delivery]:
    """(offset, value, delivery count) until ``want`` arrived or ``timeout`` passed, each
    acknowledged as ``ack`` says, the acknowledgements committed after every poll."""
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        msgs = _poll(c)
        for m in msgs:
            got.append((m.offset(), _text(m.value()), m.delivery_count()))
            c.acknowledge(m, ack(m))
        if msgs:
            c.commit_sync()
    return got


def _accept(_m: Message) -> Ack:
    return Ack.ACCEPT


def share_distinct(ctx: Context) -> str:
    topic, group = _setup(ctx)
    received: list[list[int]] = [[] for _ in range(sc.SHARE_CONSUMERS)]
    errors: list[str] = []
    done = threading.Event()

    def run(mine: list[int]) -> None:
        c = _consumer(ctx, group, topic, max_records=5)
        try:
            while not done.is_set():
                msgs = _poll(c)
                for m in msgs:
                    mine.append(m.offset())
                    c.acknowledge(m, Ack.ACCEPT)
                if msgs:
                    c.commit_sync()
                    time.sleep(sc.SHARE_PERIOD_MS / 1000)  # leave the other members room to acquire
        except Exception as exc:  # noqa: BLE001 - reported as the scenario's failure below
            errors.append(repr(exc))
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(mine,)) for mine in received]
    for t in threads:
        t.start()
    try:
        time.sleep(3)  # every member joins (assignment) before the records arrive
        producer = Producer({**_conf(ctx), "linger.ms": 0})
        for i in range(sc.SHARE_DISTINCT_COUNT):
            producer.produce(topic, value=f"share-{i}")
            expect_eq(producer.flush(TIMEOUT), 0, "messages still queued after flush")
            time.sleep(sc.SHARE_PERIOD_MS / 1000)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and sum(map(len, received)) < sc.SHARE_DISTINCT_COUNT:
            time.sleep(0.1)
        time.sleep(sc.SHARE_QUIET_S)  # a record delivered twice would show now
    finally:
        done.set()
        for t in threads:
            t.join()
    expect(not errors, f"consumer error: {errors[:1]}")
    return checks.share_distinct(received)


def _acknowledge_first(ctx: Context, first: Ack, want: int) -> list[Delivery]:
    """a, b, c; a acknowledged with ``first``, b and c accepted; then whatever comes back."""
    topic, group = _setup(ctx)
    _produce(ctx, topic, [{"value": v} for v in ("a", "b", "c")])
    c = _consumer(ctx, group, topic)
    try:
        def ack(m: Message) -> Ack:
            return first if m.value() == b"a" and m.delivery_count() == 1 else Ack.ACCEPT

        got = _deliveries(c, want, TIMEOUT, ack)
        return got + _deliveries(c, 1, sc.SHARE_QUIET_S, ack)
    finally:
        c.close()


def share_release(ctx: Context) -> str:
    got = _acknowledge_first(ctx, Ack.RELEASE, 4)
    checks.share_deliveries(got, [(0, "a", 1), (1, "b", 1), (2, "c", 1), (0, "a", 2)], "deliveries")
    return "a released, redelivered with delivery count 2"


def share_reject(ctx: Context) -> str:
    got = _acknowledge_first(ctx, Ack.REJECT, 3)
    checks.share_deliveries(got, [(0, "a", 1), (1, "b", 1), (2, "c", 1)], "deliveries")
    return "a rejected, not redelivered"


def share_lock_expiry(ctx: Context) -> str:
    topic, group = _setup(ctx, **{"share.record.lock.duration.ms": str(sc.SHARE_LOCK_MS)})
    _produce(ctx, topic, [{"value": "x"}])
    holder = _consumer(ctx, group, topic)
    try:
        held: list[Delivery] = []
        deadline = time.monotonic() + TIMEOUT
        while not held and time.monotonic() < deadline:
            held = [(m.offset(), _text(m.value()), m.delivery_count()) for m in _poll(holder)]
        checks.share_deliveries(held, [(0, "x", 1)], "the first consumer's delivery")
        taker = _consumer(ctx, group, topic)
        try:
            got = _deliveries(taker, 1, TIMEOUT + sc.SHARE_LOCK_MS / 1000, _accept)
        finally:
            taker.close()
        checks.share_deliveries(got, [(0, "x", 2)], "the second consumer's delivery, after the lock expired")
    finally:
        holder.close()
    return f"x redelivered to another consumer with delivery count 2 after its {sc.SHARE_LOCK_MS} ms lock"


def share_restart(ctx: Context) -> str:
    topic, group = _setup(ctx)
    values = [f"m{i}" for i in range(sc.SHARE_RESTART_COUNT)]
    _produce(ctx, topic, [{"value": v} for v in values])
    accepted = {v.encode() for v in values[:sc.SHARE_RESTART_ACCEPTED]}
    c = _consumer(ctx, group, topic)
    try:
        first = _deliveries(c, sc.SHARE_RESTART_COUNT, TIMEOUT,
                            lambda m: Ack.ACCEPT if m.value() in accepted else Ack.RELEASE)
    finally:
        c.close()
    expect_eq(len(first), sc.SHARE_RESTART_COUNT, f"first deliveries {first}")
    restart = FaultRequest(ctx, topic, 0, "restart")
    expect(restart.wait(sc.FAILOVER_WAIT_S), "the harness did not answer the restart request")
    how = restart.result()
    c = _consumer(ctx, group, topic)
    try:
        got = _deliveries(c, sc.SHARE_RESTART_COUNT - sc.SHARE_RESTART_ACCEPTED, 60, _accept)
        got += _deliveries(c, 1, sc.SHARE_QUIET_S, _accept)
    finally:
        c.close()
    expected = [(i, v) for i, v in enumerate(values) if i >= sc.SHARE_RESTART_ACCEPTED]
    checks.share_redelivered(got, expected, "deliveries after the restart")
    return f"released records redelivered after the restart, accepted ones not; {how}"
