"""aiokafka (asyncio): every scenario; its admin client uses the legacy AlterConfigs API."""

from __future__ import annotations

import asyncio
import functools
import os
import time

import aiokafka.errors
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.structs import OffsetAndMetadata

from compat_tests import checks
from compat_tests import failover as failover_stream
from compat_tests import scenarios as sc
from compat_tests.driver import (
    Context,
    Failed,
    NotApplicable,
    captured_log,
    expect,
    expect_eq,
    kafka_python_security,
    run_driver,
    scenario_table,
    with_untrusted_certificate,
    with_wrong_password,
)

CLIENT = "aiokafka"
TIMEOUT = 15.0
TIMEOUT_MS = int(TIMEOUT * 1000)
DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source of a topic override (KIP-226)


def sync(coro_fn):
    """Run an async scenario under asyncio.run, bounded by the scenario timeout."""

    @functools.wraps(coro_fn)
    def run(ctx: Context) -> str:
        return asyncio.run(asyncio.wait_for(coro_fn(ctx), 3 * TIMEOUT))

    return run


async def _eventually(look, timeout: float = TIMEOUT):
    """``driver.eventually`` for a coroutine function."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return await look()
        except Exception:  # noqa: BLE001 - retried until the deadline, then raised below
            await asyncio.sleep(0.1)
    return await look()


def _conf(ctx: Context) -> dict[str, object]:
    return {"bootstrap_servers": ctx.bootstrap, **kafka_python_security(ctx, ssl_context=True)}


async def _admin(ctx: Context) -> AIOKafkaAdminClient:
    client = AIOKafkaAdminClient(**_conf(ctx), request_timeout_ms=TIMEOUT_MS)
    await client.start()
    return client


async def _create_topic(ctx: Context, partitions: int = 1, config: dict[str, str] | None = None) -> str:
    topic = ctx.name("t")
    client = await _admin(ctx)
    try:
        response = await client.create_topics([NewTopic(topic, partitions, ctx.replication_factor,
                                                        topic_configs=config or {})])
        errors = [err for _, err, *_ in response.topic_errors if err]
        expect(not errors, f"create_topics errors {errors}")
    finally:
        await client.close()
    return topic


async def _produce(ctx: Context, topic: str, records: list[dict], **conf: object) -> None:
    # acks=all, as every family's producer (aiokafka's default is 1): an acknowledged
    # record is then readable at once on a cluster too (below the high watermark).
    producer = AIOKafkaProducer(**_conf(ctx), linger_ms=5, **{"acks": "all", **conf})
    await producer.start()
    try:
        futures = [await producer.send(topic, **record) for record in records]
        await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT)
    finally:
        await producer.stop()


async def _consumer(ctx: Context, group: str | None = None, **conf: object) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        **_conf(ctx),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=2_000_000,
        **conf,
    )
    await consumer.start()
    return consumer


async def _poll(consumer: AIOKafkaConsumer, count: int, stop_value: str | None = None) -> list:
    """Poll until ``count`` records (or the record holding ``stop_value``) arrived."""
    out: list = []
    deadline = time.monotonic() + TIMEOUT
    while len(out) < count and time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=200)
        for batch in batches.values():
            for record in batch:
                if len(out) < count:
                    out.append(record)
                if stop_value is not None and record.value == stop_value.encode():
                    return out
    return out


async def _consume(ctx: Context, topic: str, count: int, partitions: int = 1, **conf: object) -> list:
    consumer = await _consumer(ctx, **conf)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out = await _poll(consumer, count)
    finally:
        await consumer.stop()
    expect_eq(len(out), count, "records consumed")
    return out


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode()


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def codec(name: str):
    @sync
    async def scenario(ctx: Context) -> str:
        topic = await _create_topic(ctx)
        records = [{"key": _bytes(k), "value": _bytes(v)} for k, v in map(sc.codec_record, range(sc.CODEC_COUNT))]
        await _produce(ctx, topic, records, compression_type=None if name == "none" else name)
        got = await _consume(ctx, topic, sc.CODEC_COUNT)
        return checks.codec([(r.offset, _text(r.key), _text(r.value)) for r in got])

    return scenario


@sync
async def keys(ctx: Context) -> str:
    topic = await _create_topic(ctx, sc.KEYS_PARTITIONS)
    records = [{"key": _bytes(k), "value": _bytes(v)} for k, v in map(sc.keys_record, range(sc.KEYS_COUNT))]
    await _produce(ctx, topic, records)
    got = await _consume(ctx, topic, sc.KEYS_COUNT, partitions=sc.KEYS_PARTITIONS)
    return checks.keys([(r.partition, r.offset, _text(r.key), _text(r.value)) for r in got], sc.KEYS_PARTITIONS)


@sync
async def headers(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    wire_headers = [(k, v.encode()) for k, v in sc.HEADERS]
    await _produce(ctx, topic, [{"value": f"h{i}".encode(), "headers": wire_headers} for i in range(sc.HEADERS_COUNT)])
    got = await _consume(ctx, topic, sc.HEADERS_COUNT)
    return checks.headers([(r.offset, [(k, (v or b"").decode()) for k, v in r.headers]) for r in got])


@sync
async def timestamps(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    base = sc.base_timestamp()
    records = [{"value": f"t{i}".encode(), "timestamp_ms": ts} for i, ts in enumerate(sc.timestamps_of(base))]
    await _produce(ctx, topic, records)
    got = await _consume(ctx, topic, 3)
    return checks.timestamps([(r.offset, r.timestamp, r.timestamp_type == 0) for r in got], base)


@sync
async def large_message(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    payload = os.urandom(sc.LARGE_SIZE)
    await _produce(ctx, topic, [{"value": payload}], max_request_size=2_000_000)
    got = await _consume(ctx, topic, 1)
    return checks.large(got[0].value, payload)


@sync
async def group_commit_resume(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    group = ctx.name("g")
    tp = TopicPartition(topic, 0)
    await _produce(ctx, topic, [{"value": f"g{i}".encode()} for i in range(sc.GROUP_TOTAL)])
    first = await _consumer(ctx, group)
    try:
        first.subscribe([topic])
        firsts = await _poll(first, sc.GROUP_FIRST)
        await first.commit({tp: OffsetAndMetadata(sc.GROUP_FIRST, "")})
        committed = await first.committed(tp)
    finally:
        await first.stop()
    second = await _consumer(ctx, group)
    try:
        second.subscribe([topic])
        seconds = await _poll(second, sc.GROUP_TOTAL - sc.GROUP_FIRST)
    finally:
        await second.stop()
    return checks.group_resume([r.offset for r in firsts], committed, [r.offset for r in seconds])


@sync
async def idempotent_producer(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    records = [{"value": f"idem-{i}".encode()} for i in range(sc.IDEMPOTENT_COUNT)]
    await _produce(ctx, topic, records, enable_idempotence=True, acks="all")
    got = await _consume(ctx, topic, sc.IDEMPOTENT_COUNT)
    return checks.idempotent([(r.offset, _text(r.value)) for r in got])


@sync
async def transactions(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    producer = AIOKafkaProducer(**_conf(ctx), transactional_id=ctx.name("txn"))
    await producer.start()
    try:
        for values, commit in ((sc.TXN_COMMITTED_1, True), (sc.TXN_ABORTED, False), (sc.TXN_COMMITTED_2, True)):
            await producer.begin_transaction()
            futures = [await producer.send(topic, value=value.encode()) for value in values]
            await asyncio.gather(*futures)
            if commit:
                await producer.commit_transaction()
            else:
                await producer.abort_transaction()
    finally:
        await producer.stop()
    read = {}
    tp = TopicPartition(topic, 0)
    for isolation, count in (("read_committed", 5), ("read_uncommitted", 8)):
        consumer = await _consumer(ctx, isolation_level=isolation)
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            read[isolation] = [(r.offset, _text(r.value)) for r in await _poll(consumer, count, "c2-1")]
        finally:
            await consumer.stop()
    return checks.transactions(read["read_committed"], read["read_uncommitted"])


@sync
async def admin(ctx: Context) -> str:
    topic = await _create_topic(ctx, sc.ADMIN_PARTITIONS, {"retention.ms": sc.ADMIN_RETENTION})
    client = await _admin(ctx)
    try:
        async def partitions() -> None:
            (described,) = await client.describe_topics([topic])
            expect_eq(len(described["partitions"]), sc.ADMIN_PARTITIONS, "partitions")

        await _eventually(partitions)

        async def retention() -> tuple[str, int]:
            (response,) = await client.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})])
            (resource,) = response.to_object()["resources"]
            expect_eq(resource["error_code"], 0, "describe_configs error")
            entries = {e["config_names"]: e for e in resource["config_entries"]}
            entry = entries["retention.ms"]
            return entry["config_value"], entry.get("config_source")

        async def created() -> None:
            expect_eq(await retention(), (sc.ADMIN_RETENTION, DYNAMIC_TOPIC_CONFIG), "retention.ms (value, source)")

        await _eventually(created)
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": sc.ADMIN_RETENTION_NEW})
        for response in await client.alter_configs([resource]):
            errors = [r for r in response.to_object()["resources"] if r["error_code"]]
            expect(not errors, f"alter_configs errors {errors}")
        async def altered() -> None:
            expect_eq((await retention())[0], sc.ADMIN_RETENTION_NEW, "retention.ms after alter")

        await _eventually(altered)
        await client.delete_topics([topic])
        deadline = time.monotonic() + TIMEOUT
        while topic in await client.list_topics():
            expect(time.monotonic() < deadline, "deleted topic still listed")
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    return "create, describe, describe configs, alter (legacy AlterConfigs), delete"


@sync
async def offsets_for_times(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    base = sc.base_timestamp()
    await _produce(ctx, topic, [{"value": f"o{i}".encode(), "timestamp_ms": base + 1000 * i} for i in range(3)])
    consumer = await _consumer(ctx)
    tp = TopicPartition(topic, 0)
    try:
        found = []
        for ts, _ in sc.offsets_for_times_queries(base):
            answer = (await consumer.offsets_for_times({tp: ts}))[tp]
            found.append((ts, None if answer is None else answer.offset))
    finally:
        await consumer.stop()
    return checks.offsets_for_times(found, base)


@sync
async def seek(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    await _produce(ctx, topic, [{"value": f"s{i}".encode()} for i in range(sc.SEEK_COUNT)])
    consumer = await _consumer(ctx)
    tp = TopicPartition(topic, 0)
    try:
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        position = await consumer.position(tp)
        await _produce(ctx, topic, [{"value": b"after-end"}])
        after = await _poll(consumer, 1)
        await consumer.seek_to_beginning(tp)
        beginning = await _poll(consumer, 1)
        consumer.seek(tp, 3)
        absolute = await _poll(consumer, 1)
        expect(after and beginning and absolute, "nothing read after a seek")
    finally:
        await consumer.stop()
    return checks.seek(position, (after[0].offset, _text(after[0].value)), beginning[0].offset, absolute[0].offset)


async def _failover(ctx: Context) -> str:
    client = await _admin(ctx)
    try:
        failover_stream.require_brokers(len((await client.describe_cluster())["brokers"]))
        topic = ctx.name("t")
        new = NewTopic(topic, 1, sc.FAILOVER_REPLICATION, topic_configs={"min.insync.replicas": sc.FAILOVER_MIN_INSYNC})
        response = await client.create_topics([new])
        errors = [err for _, err, *_ in response.topic_errors if err]
        expect(not errors, f"create_topics errors {errors}")
    finally:
        await client.close()
    stream = failover_stream.Stream(ctx, topic)
    producer = AIOKafkaProducer(**_conf(ctx), enable_idempotence=True, acks="all", linger_ms=5,
                                request_timeout_ms=90_000)
    consumer = await _consumer(ctx, fetch_max_wait_ms=100)
    futures = []

    async def send(value: str) -> None:
        future = await producer.send(topic, value=value.encode(), partition=0)

        def done(f: asyncio.Future) -> None:
            if f.exception() is not None:
                stream.failed(f.exception())
            else:
                stream.delivered(value, f.result().offset)

        future.add_done_callback(done)
        futures.append(future)

    async def pump(timeout: float) -> None:
        for batch in (await consumer.getmany(timeout_ms=int(timeout * 1000))).values():
            for record in batch:
                stream.read(record.offset, record.value)

    await producer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        await stream.run_async(send, pump)
        await asyncio.wait(futures, timeout=60)
        await stream.drain_async(pump)
    finally:
        await producer.stop()
        await consumer.stop()
    return stream.check()


def failover(ctx: Context) -> str:
    return asyncio.run(asyncio.wait_for(_failover(ctx), sc.FAILOVER_WAIT_S + 3 * TIMEOUT))


@sync
async def auth_wrong_password(ctx: Context) -> str:
    """aiokafka logs the bootstrap's SaslAuthenticationFailed (error 58) and raises
    KafkaConnectionError("Unable to bootstrap")."""
    client = AIOKafkaAdminClient(**_conf(with_wrong_password(ctx)), request_timeout_ms=TIMEOUT_MS)
    with captured_log("aiokafka") as logged:
        try:
            await client.start()
        except aiokafka.errors.SaslAuthenticationFailed as exc:
            return f"SaslAuthenticationFailed: {exc}"[:150]
        except aiokafka.errors.KafkaConnectionError as exc:
            cause = next((m for m in logged if "SaslAuthenticationFailed" in m), None)
            expect(cause is not None, f"{exc!r}, logged: {logged[-3:]}")
            return f"KafkaConnectionError after logging {cause}"[:200]
        finally:
            await client.close()
    raise Failed("connected with a wrong password")


@sync
async def auth_untrusted_certificate(ctx: Context) -> str:
    """The bootstrap must be refused; aiokafka then says only "Connection ... closed":
    under TLS 1.3 its handshake succeeds and asyncio's transport does not pass on the
    alert the broker sends after checking the certificate, so the kind cannot be told."""
    client = AIOKafkaAdminClient(**_conf(with_untrusted_certificate(ctx)), request_timeout_ms=TIMEOUT_MS)
    with captured_log("aiokafka") as logged:
        try:
            await client.start()
        except aiokafka.errors.KafkaConnectionError as exc:
            cause = next((m for m in logged if "ALERT" in m.upper() and "SSL" in m.upper()), None)
            if cause is None:
                raise NotApplicable(f"refused, but aiokafka reports no TLS alert, only {logged[-1:]}") from exc
            return f"KafkaConnectionError after logging {cause}"[:200]
        finally:
            await client.close()
    raise Failed("connected with an untrusted certificate")


@sync
async def acl_topic_write_denied(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    try:
        await _produce(ctx, topic, [{"value": b"denied"}], request_timeout_ms=TIMEOUT_MS)
    except aiokafka.errors.TopicAuthorizationFailedError as exc:
        return f"TopicAuthorizationFailedError: {exc}"[:150]
    raise Failed("produced to a topic without WRITE")


@sync
async def acl_group_read_denied(ctx: Context) -> str:
    topic = await _create_topic(ctx)
    await _produce(ctx, topic, [{"value": b"one"}])
    consumer = await _consumer(ctx, ctx.name("g"))
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if await consumer.getmany(timeout_ms=200):
                raise Failed("consumed in a group without READ")
    except aiokafka.errors.GroupAuthorizationFailedError as exc:
        return f"GroupAuthorizationFailedError: {exc}"[:150]
    finally:
        await consumer.stop()
    raise Failed(f"no GroupAuthorizationFailedError in {TIMEOUT:.0f}s")


SCENARIOS = scenario_table(globals(), codec)

if __name__ == "__main__":
    import aiokafka

    run_driver(CLIENT, f"aiokafka {aiokafka.__version__}", SCENARIOS)
