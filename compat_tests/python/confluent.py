"""confluent-kafka (librdkafka from the wheel): every scenario."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
)

from compat_tests import checks
from compat_tests import failover as failover_stream
from compat_tests import scenarios as sc
from compat_tests.driver import (
    Context,
    Failed,
    eventually,
    expect,
    expect_eq,
    librdkafka_security,
    run_driver,
    scenario_table,
    with_untrusted_certificate,
    with_wrong_password,
)

CLIENT = "confluent-kafka"
TIMEOUT = 15.0


def _conf(ctx: Context) -> dict[str, object]:
    return {"bootstrap.servers": ctx.bootstrap, **librdkafka_security(ctx)}


def _admin(ctx: Context) -> AdminClient:
    return AdminClient({**_conf(ctx)})


def _create_topic(ctx: Context, partitions: int = 1, config: dict[str, str] | None = None) -> str:
    topic = ctx.name("t")
    client = _admin(ctx)  # kept referenced: destroying the handle fails its futures
    futures = client.create_topics(
        [NewTopic(topic, partitions, ctx.replication_factor, config=config or {})], request_timeout=TIMEOUT
    )
    futures[topic].result(timeout=TIMEOUT)
    return topic


def _produce(ctx: Context, topic: str, records: list[dict], **conf: object) -> None:
    producer = Producer({**_conf(ctx), "linger.ms": 5, **conf})
    errors: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            errors.append(str(err))

    for record in records:
        producer.produce(topic, on_delivery=on_delivery, **record)
    expect_eq(producer.flush(TIMEOUT), 0, "messages still queued after flush")
    expect(not errors, f"delivery errors: {errors[:3]}")


def _consumer(ctx: Context, group: str | None = None, **conf: object) -> Consumer:
    return Consumer(
        {
            **_conf(ctx),
            "group.id": group or ctx.name("g"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.message.max.bytes": 2_000_000,
            **conf,
        }
    )


def _poll(consumer: Consumer, count: int, stop_value: str | None = None) -> list[Message]:
    """Poll until ``count`` records (or the record holding ``stop_value``) arrived."""
    out: list[Message] = []
    deadline = time.monotonic() + TIMEOUT
    while len(out) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            raise Failed(f"consume error: {msg.error()}")
        out.append(msg)
        if stop_value is not None and msg.value() == stop_value.encode():
            break
    return out


def _consume(ctx: Context, topic: str, count: int, partitions: int = 1, **conf: object) -> list[Message]:
    consumer = _consumer(ctx, **conf)
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out = _poll(consumer, count)
    finally:
        consumer.close()
    expect_eq(len(out), count, "records consumed")
    return out


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode()


def codec(name: str):
    def scenario(ctx: Context) -> str:
        topic = _create_topic(ctx)
        records = [{"key": k, "value": v} for k, v in map(sc.codec_record, range(sc.CODEC_COUNT))]
        _produce(ctx, topic, records, **{"compression.type": name})
        got = _consume(ctx, topic, sc.CODEC_COUNT)
        return checks.codec([(m.offset(), _text(m.key()), _text(m.value())) for m in got])

    return scenario


def keys(ctx: Context) -> str:
    topic = _create_topic(ctx, sc.KEYS_PARTITIONS)
    records = [{"key": k, "value": v} for k, v in map(sc.keys_record, range(sc.KEYS_COUNT))]
    _produce(ctx, topic, records)
    got = _consume(ctx, topic, sc.KEYS_COUNT, partitions=sc.KEYS_PARTITIONS)
    normalised = [(m.partition(), m.offset(), _text(m.key()), _text(m.value())) for m in got]
    return checks.keys(normalised, sc.KEYS_PARTITIONS)


def headers(ctx: Context) -> str:
    topic = _create_topic(ctx)
    records = [{"value": f"h{i}", "headers": sc.HEADERS} for i in range(sc.HEADERS_COUNT)]
    _produce(ctx, topic, records)
    got = _consume(ctx, topic, sc.HEADERS_COUNT)
    return checks.headers(
        [(m.offset(), [(k, (v or b"").decode()) for k, v in m.headers() or []]) for m in got]
    )


def timestamps(ctx: Context) -> str:
    topic = _create_topic(ctx)
    base = sc.base_timestamp()
    _produce(ctx, topic, [{"value": f"t{i}", "timestamp": ts} for i, ts in enumerate(sc.timestamps_of(base))])
    got = _consume(ctx, topic, 3)
    return checks.timestamps(
        [(m.offset(), m.timestamp()[1], m.timestamp()[0] == TIMESTAMP_CREATE_TIME) for m in got], base
    )


def large_message(ctx: Context) -> str:
    topic = _create_topic(ctx)
    payload = os.urandom(sc.LARGE_SIZE)
    _produce(ctx, topic, [{"value": payload}], **{"message.max.bytes": 2_000_000})
    got = _consume(ctx, topic, 1)
    return checks.large(got[0].value(), payload)


def group_commit_resume(ctx: Context) -> str:
    topic = _create_topic(ctx)
    group = ctx.name("g")
    _produce(ctx, topic, [{"value": f"g{i}"} for i in range(sc.GROUP_TOTAL)])
    first = _consumer(ctx, group)
    try:
        first.subscribe([topic])
        firsts = _poll(first, sc.GROUP_FIRST)
        first.commit(offsets=[TopicPartition(topic, 0, sc.GROUP_FIRST)], asynchronous=False)
        committed = first.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)[0].offset
    finally:
        first.close()
    second = _consumer(ctx, group)
    try:
        second.subscribe([topic])
        seconds = _poll(second, sc.GROUP_TOTAL - sc.GROUP_FIRST)
    finally:
        second.close()
    return checks.group_resume([m.offset() for m in firsts], committed, [m.offset() for m in seconds])


def idempotent_producer(ctx: Context) -> str:
    topic = _create_topic(ctx)
    records = [{"value": f"idem-{i}"} for i in range(sc.IDEMPOTENT_COUNT)]
    _produce(ctx, topic, records, **{"enable.idempotence": True, "acks": "all"})
    got = _consume(ctx, topic, sc.IDEMPOTENT_COUNT)
    return checks.idempotent([(m.offset(), _text(m.value())) for m in got])


def transactions(ctx: Context) -> str:
    topic = _create_topic(ctx)
    producer = Producer({**_conf(ctx), "transactional.id": ctx.name("txn")})
    producer.init_transactions(TIMEOUT)
    for values, commit in ((sc.TXN_COMMITTED_1, True), (sc.TXN_ABORTED, False), (sc.TXN_COMMITTED_2, True)):
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, value=value)
        producer.flush(TIMEOUT)
        if commit:
            producer.commit_transaction(TIMEOUT)
        else:
            producer.abort_transaction(TIMEOUT)
    read = {}
    for isolation, count in (("read_committed", 5), ("read_uncommitted", 8)):
        consumer = _consumer(ctx, **{"isolation.level": isolation})
        try:
            consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
            read[isolation] = [(m.offset(), _text(m.value())) for m in _poll(consumer, count, "c2-1")]
        finally:
            consumer.close()
    return checks.transactions(read["read_committed"], read["read_uncommitted"])


def admin(ctx: Context) -> str:
    client = _admin(ctx)
    topic = _create_topic(ctx, sc.ADMIN_PARTITIONS, {"retention.ms": sc.ADMIN_RETENTION})

    def partitions() -> None:
        described = client.describe_topics(TopicCollection([topic]), request_timeout=TIMEOUT)
        expect_eq(len(described[topic].result(timeout=TIMEOUT).partitions), sc.ADMIN_PARTITIONS, "partitions")

    eventually(partitions)

    def retention() -> ConfigEntry:
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        configs = client.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(timeout=TIMEOUT)
        return configs["retention.ms"]

    def created() -> None:
        entry = retention()
        expect_eq(entry.value, sc.ADMIN_RETENTION, "retention.ms")
        expect_eq(entry.source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, "retention.ms source")

    eventually(created)
    change = ConfigResource(
        ConfigResource.Type.TOPIC,
        topic,
        incremental_configs=[
            ConfigEntry("retention.ms", sc.ADMIN_RETENTION_NEW, incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in client.incremental_alter_configs([change]).values():
        future.result(timeout=TIMEOUT)
    eventually(lambda: expect_eq(retention().value, sc.ADMIN_RETENTION_NEW, "retention.ms after alter"))
    client.delete_topics([topic], request_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while topic in client.list_topics(timeout=TIMEOUT).topics:
        expect(time.monotonic() < deadline, "deleted topic still listed")
        time.sleep(0.2)
    return "create, describe, describe configs, incremental alter, delete"


def offsets_for_times(ctx: Context) -> str:
    topic = _create_topic(ctx)
    base = sc.base_timestamp()
    _produce(ctx, topic, [{"value": f"o{i}", "timestamp": base + 1000 * i} for i in range(3)])
    consumer = _consumer(ctx)
    try:
        found = []
        for ts, _ in sc.offsets_for_times_queries(base):
            tp = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=TIMEOUT)[0]
            expect(tp.error is None, f"offsets_for_times error {tp.error}")
            found.append((ts, None if tp.offset < 0 else tp.offset))
    finally:
        consumer.close()
    return checks.offsets_for_times(found, base)


def seek(ctx: Context) -> str:
    topic = _create_topic(ctx)
    _produce(ctx, topic, [{"value": f"s{i}"} for i in range(sc.SEEK_COUNT)])
    # librdkafka reports position() only after a message is consumed; the offset a
    # logical seek resolved to is its per-partition statistic next_offset. A report can
    # be taken while the partition turns active, so two reports in a row must agree.
    reports: list[dict] = []

    def on_stats(raw: str) -> None:
        partition = json.loads(raw).get("topics", {}).get(topic, {}).get("partitions", {}).get("0", {})
        reports.append(partition)

    consumer = _consumer(ctx, **{"statistics.interval.ms": 100, "stats_cb": on_stats})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
        deadline = time.monotonic() + TIMEOUT
        position = -1
        while position < 0 and time.monotonic() < deadline:
            consumer.poll(0.1)
            last = reports[-2:]
            if len(last) == 2 and all(r.get("fetch_state") == "active" for r in last) \
                    and last[0]["next_offset"] == last[1]["next_offset"]:
                position = last[1]["next_offset"]
        _produce(ctx, topic, [{"value": "after-end"}])
        after = _poll(consumer, 1)
        expect(after, "nothing read after seek to end")
        consumer.seek(TopicPartition(topic, 0, OFFSET_BEGINNING))
        beginning = _poll(consumer, 1)
        consumer.seek(TopicPartition(topic, 0, 3))
        absolute = _poll(consumer, 1)
        expect(beginning and absolute, "nothing read after seek")
    finally:
        consumer.close()
    return checks.seek(
        position, (after[0].offset(), _text(after[0].value())), beginning[0].offset(), absolute[0].offset()
    )


def failover(ctx: Context) -> str:
    client = _admin(ctx)
    failover_stream.require_brokers(len(client.list_topics(timeout=TIMEOUT).brokers))
    topic = ctx.name("t")
    new = NewTopic(topic, 1, sc.FAILOVER_REPLICATION, config={"min.insync.replicas": sc.FAILOVER_MIN_INSYNC})
    client.create_topics([new], request_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)
    stream = failover_stream.Stream(ctx, topic)

    def on_delivery(err, msg) -> None:
        if err is not None:
            stream.failed(err)
        else:
            stream.delivered(msg.value(), msg.offset())

    producer = Producer({**_conf(ctx), "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, "message.timeout.ms": 90_000})
    consumer = _consumer(ctx, **{"fetch.wait.max.ms": 100})

    def pump(timeout: float) -> None:
        producer.poll(0)
        msg = consumer.poll(timeout)
        if msg is not None and msg.error() is None:  # errors while a broker is down are transient
            stream.read(msg.offset(), msg.value())

    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        stream.run(lambda value: producer.produce(topic, value=value, partition=0, on_delivery=on_delivery), pump)
        expect_eq(producer.flush(60), 0, "records still unanswered 60 s after the last")
        stream.drain(pump)
    finally:
        consumer.close()
    return stream.check()


def _codes(errors: list[KafkaError]) -> list[str]:
    return [e.name() for e in errors]


def _refused(ctx: Context, what: str, matches: Callable[[KafkaError], bool]) -> str:
    """The error librdkafka reports (error_cb) when the broker refuses ``ctx``, once one
    ``matches``."""
    errors: list[KafkaError] = []
    client = AdminClient({**_conf(ctx), "error_cb": errors.append})
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and not any(map(matches, errors)):
        try:
            client.list_topics(timeout=1)
        except KafkaException as exc:
            errors.append(exc.args[0])
        client.poll(0.2)
    found = next((e for e in errors if matches(e)), None)
    expect(found is not None, f"expected {what}, got {sorted(set(_codes(errors)))}: {[str(e) for e in errors[-2:]]}")
    assert found is not None
    return f"{found.name()}: {found.str()}"[:200]


def auth_wrong_password(ctx: Context) -> str:
    return _refused(with_wrong_password(ctx), "_AUTHENTICATION", lambda e: e.code() == KafkaError._AUTHENTICATION)


def auth_untrusted_certificate(ctx: Context) -> str:
    """Under TLS 1.3 the client finishes its handshake before the broker checks the
    client's certificate: librdkafka meets the broker's alert on its first read
    (_TRANSPORT, "SSL alert"), or in the handshake (_SSL) under TLS 1.2."""
    return _refused(with_untrusted_certificate(ctx), "an SSL alert (_SSL or _TRANSPORT)",
                    lambda e: e.code() == KafkaError._SSL
                    or (e.code() == KafkaError._TRANSPORT and "SSL alert" in e.str()))


def acl_topic_write_denied(ctx: Context) -> str:
    topic = _create_topic(ctx)
    errors: list[KafkaError] = []
    producer = Producer({**_conf(ctx), "message.timeout.ms": int(TIMEOUT * 1000)})
    producer.produce(topic, value=b"denied", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(TIMEOUT)
    expect_eq(_codes([e for e in errors if e is not None]), ["TOPIC_AUTHORIZATION_FAILED"], "delivery errors")
    return "TOPIC_AUTHORIZATION_FAILED"


def acl_group_read_denied(ctx: Context) -> str:
    topic = _create_topic(ctx)
    _produce(ctx, topic, [{"value": "one"}])
    consumer = _consumer(ctx)
    errors: list[KafkaError] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and not errors:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error():
                errors.append(msg.error())
            elif msg is not None:
                raise Failed(f"consumed offset {msg.offset()} in a group without READ")
    finally:
        consumer.close()
    expect_eq(_codes(errors), ["GROUP_AUTHORIZATION_FAILED"], "consumer errors")
    return "GROUP_AUTHORIZATION_FAILED"


if __name__ == "__main__":
    import confluent_kafka

    from compat_tests.python import confluent_share  # its scenarios use this module's helpers

    SCENARIOS = scenario_table({**globals(), **vars(confluent_share)}, codec)

    run_driver(CLIENT, f"confluent-kafka {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})", SCENARIOS)
