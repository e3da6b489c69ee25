"""kafka-python: every scenario (its producer is idempotent by default)."""

from __future__ import annotations

import os
import time

import kafka.errors
from kafka import (
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    OffsetAndMetadata,
    TopicPartition,
)
from kafka.admin import ConfigResource

from compat_tests import checks
from compat_tests import failover as failover_stream
from compat_tests import scenarios as sc
from compat_tests.driver import (
    Context,
    Failed,
    NotApplicable,
    captured_log,
    eventually,
    expect,
    expect_eq,
    kafka_python_security,
    run_driver,
    scenario_table,
    with_untrusted_certificate,
    with_wrong_password,
)

CLIENT = "kafka-python"
TIMEOUT = 15.0
TIMEOUT_MS = int(TIMEOUT * 1000)


def _conf(ctx: Context) -> dict[str, object]:
    return {"bootstrap_servers": ctx.bootstrap, **kafka_python_security(ctx)}


def _admin(ctx: Context) -> KafkaAdminClient:
    return KafkaAdminClient(**_conf(ctx), request_timeout_ms=TIMEOUT_MS)


def _create_topic(ctx: Context, partitions: int = 1, config: dict[str, str] | None = None) -> str:
    topic = ctx.name("t")
    admin = _admin(ctx)
    try:
        spec = {"num_partitions": partitions, "replication_factor": ctx.replication_factor, "configs": config or {}}
        admin.create_topics({topic: spec}, timeout_ms=TIMEOUT_MS, wait_for_metadata=True)
    finally:
        admin.close()
    return topic


def _produce(ctx: Context, topic: str, records: list[dict], **conf: object) -> None:
    producer = KafkaProducer(**_conf(ctx), linger_ms=5, **conf)
    try:
        futures = [producer.send(topic, **record) for record in records]
        producer.flush(TIMEOUT)
        for future in futures:
            future.get(timeout=TIMEOUT)
    finally:
        producer.close(TIMEOUT)


def _consumer(ctx: Context, group: str | None = None, **conf: object) -> KafkaConsumer:
    return KafkaConsumer(
        **_conf(ctx),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=2_000_000,
        request_timeout_ms=TIMEOUT_MS + 5000,
        **conf,
    )


def _poll(consumer: KafkaConsumer, count: int, stop_value: str | None = None) -> list:
    """Poll until ``count`` records (or the record holding ``stop_value``) arrived."""
    out: list = []
    deadline = time.monotonic() + TIMEOUT
    while len(out) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            for record in batch:
                if len(out) < count:
                    out.append(record)
                if stop_value is not None and record.value == stop_value.encode():
                    return out
    return out


def _consume(ctx: Context, topic: str, count: int, partitions: int = 1, **conf: object) -> list:
    consumer = _consumer(ctx, **conf)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out = _poll(consumer, count)
    finally:
        consumer.close()
    expect_eq(len(out), count, "records consumed")
    return out


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode()


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def codec(name: str):
    def scenario(ctx: Context) -> str:
        topic = _create_topic(ctx)
        records = [{"key": _bytes(k), "value": _bytes(v)} for k, v in map(sc.codec_record, range(sc.CODEC_COUNT))]
        _produce(ctx, topic, records, compression_type=None if name == "none" else name)
        got = _consume(ctx, topic, sc.CODEC_COUNT)
        return checks.codec([(r.offset, _text(r.key), _text(r.value)) for r in got])

    return scenario


def keys(ctx: Context) -> str:
    topic = _create_topic(ctx, sc.KEYS_PARTITIONS)
    records = [{"key": _bytes(k), "value": _bytes(v)} for k, v in map(sc.keys_record, range(sc.KEYS_COUNT))]
    _produce(ctx, topic, records)
    got = _consume(ctx, topic, sc.KEYS_COUNT, partitions=sc.KEYS_PARTITIONS)
    return checks.keys([(r.partition, r.offset, _text(r.key), _text(r.value)) for r in got], sc.KEYS_PARTITIONS)


def headers(ctx: Context) -> str:
    topic = _create_topic(ctx)
    wire_headers = [(k, v.encode()) for k, v in sc.HEADERS]
    _produce(ctx, topic, [{"value": f"h{i}".encode(), "headers": wire_headers} for i in range(sc.HEADERS_COUNT)])
    got = _consume(ctx, topic, sc.HEADERS_COUNT)
    return checks.headers([(r.offset, [(k, (v or b"").decode()) for k, v in r.headers]) for r in got])


def timestamps(ctx: Context) -> str:
    topic = _create_topic(ctx)
    base = sc.base_timestamp()
    _produce(ctx, topic, [{"value": f"t{i}".encode(), "timestamp_ms": ts} for i, ts in enumerate(sc.timestamps_of(base))])
    got = _consume(ctx, topic, 3)
    return checks.timestamps([(r.offset, r.timestamp, r.timestamp_type == 0) for r in got], base)


def large_message(ctx: Context) -> str:
    topic = _create_topic(ctx)
    payload = os.urandom(sc.LARGE_SIZE)
    _produce(ctx, topic, [{"value": payload}], max_request_size=2_000_000)
    got = _consume(ctx, topic, 1)
    return checks.large(got[0].value, payload)


def group_commit_resume(ctx: Context) -> str:
    topic = _create_topic(ctx)
    group = ctx.name("g")
    tp = TopicPartition(topic, 0)
    _produce(ctx, topic, [{"value": f"g{i}".encode()} for i in range(sc.GROUP_TOTAL)])
    first = _consumer(ctx, group)
    try:
        first.subscribe([topic])
        firsts = _poll(first, sc.GROUP_FIRST)
        first.commit({tp: OffsetAndMetadata(sc.GROUP_FIRST, "", -1)})
        committed = first.committed(tp)
    finally:
        first.close(autocommit=False)
    second = _consumer(ctx, group)
    try:
        second.subscribe([topic])
        seconds = _poll(second, sc.GROUP_TOTAL - sc.GROUP_FIRST)
    finally:
        second.close(autocommit=False)
    return checks.group_resume([r.offset for r in firsts], committed, [r.offset for r in seconds])


def idempotent_producer(ctx: Context) -> str:
    topic = _create_topic(ctx)
    records = [{"value": f"idem-{i}".encode()} for i in range(sc.IDEMPOTENT_COUNT)]
    _produce(ctx, topic, records, enable_idempotence=True, acks="all")
    got = _consume(ctx, topic, sc.IDEMPOTENT_COUNT)
    return checks.idempotent([(r.offset, _text(r.value)) for r in got])


def transactions(ctx: Context) -> str:
    topic = _create_topic(ctx)
    producer = KafkaProducer(**_conf(ctx), transactional_id=ctx.name("txn"))
    try:
        producer.init_transactions()
        for values, commit in ((sc.TXN_COMMITTED_1, True), (sc.TXN_ABORTED, False), (sc.TXN_COMMITTED_2, True)):
            producer.begin_transaction()
            for value in values:
                producer.send(topic, value=value.encode())
            producer.flush(TIMEOUT)
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
    finally:
        producer.close(TIMEOUT)
    read = {}
    tp = TopicPartition(topic, 0)
    for isolation, count in (("read_committed", 5), ("read_uncommitted", 8)):
        consumer = _consumer(ctx, isolation_level=isolation)
        try:
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            read[isolation] = [(r.offset, _text(r.value)) for r in _poll(consumer, count, "c2-1")]
        finally:
            consumer.close()
    return checks.transactions(read["read_committed"], read["read_uncommitted"])


def admin(ctx: Context) -> str:
    topic = _create_topic(ctx, sc.ADMIN_PARTITIONS, {"retention.ms": sc.ADMIN_RETENTION})
    client = _admin(ctx)
    try:
        def partitions() -> None:
            (described,) = client.describe_topics([topic])
            expect_eq(len(described["partitions"]), sc.ADMIN_PARTITIONS, "partitions")

        eventually(partitions)

        def retention() -> dict:
            answer = client.describe_configs([ConfigResource("TOPIC", topic, ["retention.ms"])])
            return answer["topic"][topic]["retention.ms"]

        def created() -> None:
            entry = retention()
            expect_eq((entry["value"], entry["config_source"]), (sc.ADMIN_RETENTION, "DYNAMIC_TOPIC_CONFIG"),
                      "retention.ms")

        eventually(created)
        result = client.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": sc.ADMIN_RETENTION_NEW})])
        expect_eq(result, {"topic": {topic: "OK"}}, "alter_configs result")
        eventually(lambda: expect_eq(retention()["value"], sc.ADMIN_RETENTION_NEW, "retention.ms after alter"))
        client.delete_topics([topic], timeout_ms=TIMEOUT_MS)
        deadline = time.monotonic() + TIMEOUT
        while topic in client.list_topics():
            expect(time.monotonic() < deadline, "deleted topic still listed")
            time.sleep(0.2)
    finally:
        client.close()
    return "create, describe, describe configs, alter (incremental), delete"


def offsets_for_times(ctx: Context) -> str:
    topic = _create_topic(ctx)
    base = sc.base_timestamp()
    _produce(ctx, topic, [{"value": f"o{i}".encode(), "timestamp_ms": base + 1000 * i} for i in range(3)])
    consumer = _consumer(ctx)
    tp = TopicPartition(topic, 0)
    try:
        found = []
        for ts, _ in sc.offsets_for_times_queries(base):
            answer = consumer.offsets_for_times({tp: ts})[tp]
            found.append((ts, None if answer is None else answer.offset))
    finally:
        consumer.close()
    return checks.offsets_for_times(found, base)


def seek(ctx: Context) -> str:
    topic = _create_topic(ctx)
    _produce(ctx, topic, [{"value": f"s{i}".encode()} for i in range(sc.SEEK_COUNT)])
    consumer = _consumer(ctx)
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        consumer.seek_to_end(tp)
        position = consumer.position(tp)
        _produce(ctx, topic, [{"value": b"after-end"}])
        after = _poll(consumer, 1)
        consumer.seek_to_beginning(tp)
        beginning = _poll(consumer, 1)
        consumer.seek(tp, 3)
        absolute = _poll(consumer, 1)
        expect(after and beginning and absolute, "nothing read after a seek")
    finally:
        consumer.close()
    return checks.seek(position, (after[0].offset, _text(after[0].value)), beginning[0].offset, absolute[0].offset)


def failover(ctx: Context) -> str:
    admin = _admin(ctx)
    try:
        failover_stream.require_brokers(len(admin.describe_cluster()["brokers"]))
        topic = ctx.name("t")
        spec = {"num_partitions": 1, "replication_factor": sc.FAILOVER_REPLICATION,
                "configs": {"min.insync.replicas": sc.FAILOVER_MIN_INSYNC}}
        admin.create_topics({topic: spec}, timeout_ms=TIMEOUT_MS, wait_for_metadata=True)
    finally:
        admin.close()
    stream = failover_stream.Stream(ctx, topic)
    producer = KafkaProducer(**_conf(ctx), enable_idempotence=True, acks="all", linger_ms=5,
                             delivery_timeout_ms=90_000)
    consumer = _consumer(ctx, fetch_max_wait_ms=100)

    def send(value: str) -> None:
        future = producer.send(topic, value=value.encode(), partition=0)
        future.add_callback(lambda metadata: stream.delivered(value, metadata.offset))
        future.add_errback(stream.failed)

    def pump(timeout: float) -> None:
        for batch in consumer.poll(timeout_ms=int(timeout * 1000)).values():
            for record in batch:
                stream.read(record.offset, record.value)

    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        stream.run(send, pump)
        producer.flush(60)
        stream.drain(pump)
    finally:
        producer.close(TIMEOUT)
        consumer.close()
    return stream.check()


def auth_wrong_password(ctx: Context) -> str:
    """kafka-python 3 retries the bootstrap until its timeout, then raises KafkaTimeoutError;
    the SaslAuthenticationFailedError of an attempt shows in its log only.

    Its transport drops the bytes of a read that ends with the peer's close (it aborts
    before handing them on), and Kafka sends the SaslAuthenticate answer and closes at
    once (after connection.failed.authentication.delay.ms): against Apache Kafka 4.1.2
    no attempt in ~50 logged the failure, only "socket disconnected". The refusal is
    checked; its kind cannot be, so the cell is n/a whatever an attempt logged."""
    with captured_log("kafka") as logged:
        try:
            KafkaAdminClient(**_conf(with_wrong_password(ctx)), request_timeout_ms=TIMEOUT_MS,
                             bootstrap_timeout_ms=TIMEOUT_MS, reconnect_backoff_max_ms=1000).close()
        except kafka.errors.KafkaTimeoutError as exc:
            seen = sum("SaslAuthenticationFailed" in m for m in logged)
            tries = sum(m.startswith("Attempting bootstrap") for m in logged)
            raise NotApplicable(f"refused ({exc}); kafka-python logged SaslAuthenticationFailedError on {seen} of"
                                f" {tries} attempts: it drops the answer read together with the broker's close") from exc
    raise Failed("connected with a wrong password")


def auth_untrusted_certificate(ctx: Context) -> str:
    """kafka-python 3 logs the TLS alert of each refused bootstrap and raises KafkaTimeoutError."""
    with captured_log("kafka") as logged:
        try:
            KafkaAdminClient(**_conf(with_untrusted_certificate(ctx)), request_timeout_ms=TIMEOUT_MS,
                             bootstrap_timeout_ms=TIMEOUT_MS, reconnect_backoff_max_ms=1000).close()
        except kafka.errors.KafkaTimeoutError as exc:
            cause = next((m for m in logged if "ALERT" in m.upper() and "SSL" in m.upper()), None)
            expect(cause is not None, f"{exc!r}, logged: {logged[-3:]}")
            return f"KafkaTimeoutError after logging {cause}"[:200]
    raise Failed("connected with an untrusted certificate")


def acl_topic_write_denied(ctx: Context) -> str:
    topic = _create_topic(ctx)
    try:
        _produce(ctx, topic, [{"value": b"denied"}], max_block_ms=TIMEOUT_MS)
    except kafka.errors.TopicAuthorizationFailedError as exc:
        return f"TopicAuthorizationFailedError: {exc}"[:150]
    raise Failed("produced to a topic without WRITE")


def acl_group_read_denied(ctx: Context) -> str:
    topic = _create_topic(ctx)
    _produce(ctx, topic, [{"value": b"one"}])
    consumer = _consumer(ctx, ctx.name("g"))
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if consumer.poll(timeout_ms=200):
                raise Failed("consumed in a group without READ")
    except kafka.errors.GroupAuthorizationFailedError as exc:
        return f"GroupAuthorizationFailedError: {exc}"[:150]
    finally:
        consumer.close()
    raise Failed(f"no GroupAuthorizationFailedError in {TIMEOUT:.0f}s")


SCENARIOS = scenario_table(globals(), codec)

if __name__ == "__main__":
    import kafka

    run_driver(CLIENT, f"kafka-python {kafka.__version__}", SCENARIOS)
