"""Random and mutated frames over TCP while a canary client works (issue 13, "Proof").

A corpus of real requests is gathered at test time: what confluent-kafka (an
idempotent and a transactional producer, a group consumer, the admin client) and
kafka-python (producer, group consumer) send to an in-process broker, recorded by a
dispatcher hook, plus one request of every API key and version the broker
advertises, built with the generated classes. Worker threads then send, for a fixed
time, frames made from it: bit flips, bytes set to 0x00/0x7f/0x80/0xff, truncations,
huge counts (int32 and varint), random API keys and versions, splices, inserted and
deleted bytes, int fields at extremes (-1, 0, 1, min, max), random bytes, and the
size prefix lying (longer, shorter, negative,
2 GiB), several frames per connection and some connections left open mid-frame.

Meanwhile a confluent-kafka producer (acks=all) and consumer on their own topic
must not notice: every record acknowledged and read back in order. At the end the
broker still answers ApiVersions and Metadata on a fresh connection, and it logged
nothing at ERROR or above (an exception escaping a handler is logged so).

Deterministic choices: ``KAFKAPY_FUZZ_SEED`` (default 13) seeds every worker; the
order in which the broker sees frames of different connections is not.
``KAFKAPY_FUZZ_SECONDS`` (default 12) is the time spent sending.

Left out of the frames: the APIs by which any client may change what the canary or
the whole node relies on (delete or create topics and partitions, delete records,
configs, reassignments, leader elections, features, quotas, log dirs, unregistering
a broker, adding or removing a Raft voter). An unauthenticated Kafka obeys them too; they are not bad input.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from kafkapy.testing import Broker
from kafkapy.wire.apis import ApiKey, api_info
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.headers import encode_request_header
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from tests.broker.test_bad_input import Bystander
from tests.requests import ask

SEED = int(os.environ.get("KAFKAPY_FUZZ_SEED", "13"))
BUDGET_S = float(os.environ.get("KAFKAPY_FUZZ_SECONDS", "12"))
WORKERS = 6
#: How long a connection waits for the broker's answers or its close.
ANSWER_WAIT_S = 0.25
#: Connections a worker keeps open mid-frame at most (the oldest is closed first).
PARTIAL_OPEN = 10

EXCLUDED = frozenset({
    ApiKey.CREATE_TOPICS, ApiKey.DELETE_TOPICS, ApiKey.DELETE_RECORDS, ApiKey.CREATE_PARTITIONS,
    ApiKey.ALTER_CONFIGS, ApiKey.INCREMENTAL_ALTER_CONFIGS, ApiKey.ALTER_REPLICA_LOG_DIRS,
    ApiKey.ALTER_PARTITION_REASSIGNMENTS, ApiKey.ELECT_LEADERS, ApiKey.UPDATE_FEATURES,
    ApiKey.ALTER_CLIENT_QUOTAS, ApiKey.UNREGISTER_BROKER, ApiKey.ADD_RAFT_VOTER, ApiKey.REMOVE_RAFT_VOTER,
})
#: Log records at ERROR that are deliberate answers to what a peer claims, not
#: failures: (logger, text in the message). A Raft request naming another cluster is
#: logged once per peer, for the operator of a misconfigured cluster.
ALLOWED_ERRORS = (("kafkapy.kraft.raft.network", "INCONSISTENT_CLUSTER_ID"),)
#: API keys no schema defines, for random headers.
UNKNOWN_KEYS = (-1, 99, 1000, 32767)


class ErrorRecords(logging.Handler):
    """Keeps the broker's log records at ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("kafkapy"):
            return
        if record.exc_info is None and any(record.name == name and text in record.getMessage()
                                           for name, text in ALLOWED_ERRORS):
            return
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzz_broker() -> Iterator[Broker]:
    with Broker() as broker:
        yield broker


@pytest.fixture
def error_records() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


# ------------------------------------------------------------------ the corpus

def frame_of(key: int, version: int, body: Any, client_id: str | None = "fuzz") -> bytes:
    """A request frame without its size prefix."""
    out = bytearray()
    encode_request_header(out, key, version, 1, client_id)
    return bytes(out) + body.to_bytes(version)


def captured_frames(broker: Broker) -> list[bytes]:
    """What real clients send: a dispatcher hook re-encodes each decoded request."""
    frames: list[bytes] = []

    async def record(ctx: Any, request: Any) -> None:
        header = ctx.header
        frames.append(frame_of(header.request_api_key, header.request_api_version, request, header.client_id))

    dispatcher = broker.info.dispatcher  # type: ignore[union-attr]
    broker.call(dispatcher.hooks.append, record)
    try:
        run_clients(broker.bootstrap_servers)
    finally:
        broker.call(dispatcher.hooks.remove, record)
    return frames


def run_clients(bootstrap: str) -> None:
    topic = f"fuzz-corpus-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.list_topics(timeout=10)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                         "compression.type": "lz4"})
    for i in range(10):
        producer.produce(topic, key=b"k%d" % i, value=b"v" * i, headers=[("h", b"x")])
    assert producer.flush(30) == 0
    admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])[ConfigResource(ResourceType.TOPIC, topic)] \
        .result(timeout=10)
    txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"fuzz-{uuid.uuid4().hex[:6]}"})
    txn.init_transactions(30)
    txn.begin_transaction()
    txn.produce(topic, key=b"t", value=b"in a transaction")
    txn.commit_transaction(30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"fuzz-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    try:
        consumer.subscribe([topic])
        got, deadline = 0, time.monotonic() + 20
        while got < 11 and time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is not None and m.error() is None:
                got += 1
        assert got == 11
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    from kafka import KafkaConsumer, KafkaProducer

    kp = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    kp.send(topic, key=b"kp", value=b"from kafka-python").get(timeout=30)
    kp.close()
    kc = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"fuzz-kp-{uuid.uuid4().hex[:6]}",
                       auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        assert any(m.value == b"from kafka-python" for m in kc)
        kc.commit()
    finally:
        kc.close()


def generated_frames(advertised: dict[int, tuple[int, int]]) -> list[bytes]:
    """One request of every advertised API key and version, every array holding one
    element (tests/wire/message_strategies.filled_message)."""
    from tests.wire.message_strategies import filled_message

    frames = []
    for key, (low, high) in sorted(advertised.items()):
        if key in EXCLUDED:
            continue
        info = api_info(key)
        name = info.request_class.__name__  # type: ignore[union-attr]
        # advertised below what the schema has: Produce v0-2, refused as Kafka 4 does
        frames.extend(frame_of(key, v, filled_message(name, v)) for v in range(low, high + 1)
                      if info.supports(v))  # type: ignore[union-attr]
    return frames


def advertised_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    answer = ask(bootstrap, ApiVersionsRequest(client_software_name="fuzz", client_software_version="1"), 3)
    assert answer is not None and answer.error_code == ErrorCode.NONE
    return {k.api_key: (k.min_version, k.max_version) for k in answer.api_keys}


# ------------------------------------------------------------------ mutations

def _pos(rng: random.Random, f: bytearray) -> int:
    """A position, in the body (after api key, version, correlation id) four times in five,
    so that more frames reach a handler."""
    low = 8 if len(f) > 9 and rng.random() < 0.8 else 0
    return rng.randrange(low, len(f))


def _flip_bits(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        f[_pos(rng, f)] ^= 1 << rng.randrange(8)
    return f


def _set_bytes(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    for _ in range(rng.randint(1, 4)):
        f[_pos(rng, f)] = rng.choice((0x00, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    return f


def _extreme_int(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    """An int16/int32/int64 field (timeouts, indexes, offsets, epochs) at an extreme."""
    width = rng.choice((2, 4, 8))
    if len(f) < 8 + width:
        return f
    value = rng.choice((-1, 0, 1, -(2 ** (8 * width - 1)), 2 ** (8 * width - 1) - 1))
    i = rng.randrange(8, len(f) - width + 1)
    f[i:i + width] = value.to_bytes(width, "big", signed=True)
    return f


def _truncate(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    return f[: rng.randrange(1, len(f))] if len(f) > 1 else f


def _huge_count(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    patch = rng.choice((b"\x7f\xff\xff\xff", b"\x00\x0f\x42\x41", b"\xff\xff\xff\xff\x0f", b"\xc2\x84\x3d",
                        b"\x91\x4e", b"\xff\xff"))
    i = rng.randrange(8, max(9, len(f)))
    return f[:i] + patch + f[i + len(patch):]


def _random_header(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    keys = [k for k in ApiKey if k not in EXCLUDED]
    key = rng.choice(UNKNOWN_KEYS) if rng.random() < 0.2 else rng.choice(keys)
    if len(f) < 4:
        f += bytes(4 - len(f))
    struct.pack_into(">hh", f, 0, key, rng.choice((rng.randrange(0, 18), -1, 32767)))
    return f


def _splice(rng: random.Random, f: bytearray, corpus: list[bytes]) -> bytearray:
    other = rng.choice(corpus)
    return f[: rng.randrange(len(f))] + other[rng.randrange(len(other)):]


def _insert_delete(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    i = rng.randrange(len(f))
    if rng.random() < 0.5:
        return f[:i] + rng.randbytes(rng.randint(1, 16)) + f[i:]
    return f[:i] + f[i + rng.randint(1, 16):]


def _random_bytes(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    return bytearray(rng.randbytes(rng.randint(1, 200)))


def _unchanged(rng: random.Random, f: bytearray, _: list[bytes]) -> bytearray:
    return f


MUTATIONS: list[Callable[[random.Random, bytearray, list[bytes]], bytearray]] = [
    _flip_bits, _set_bytes, _extreme_int, _extreme_int, _truncate, _huge_count, _random_header, _splice,
    _insert_delete, _random_bytes, _unchanged,
]


def safe(frame: bytes) -> bool:
    """False for a frame whose header names an API left out (see the module doc)."""
    return len(frame) < 2 or struct.unpack_from(">h", frame)[0] not in EXCLUDED


def framed(rng: random.Random, frame: bytes) -> bytes:
    """The frame behind its size prefix, which lies one time in ten."""
    size = len(frame)
    if rng.random() < 0.1:
        size = rng.choice((size + rng.randint(1, 100), max(0, size - rng.randint(1, 8)), -1, -(2**31),
                           2**31 - 1, 0))
    return struct.pack(">i", size) + frame


class Worker(threading.Thread):
    """Connections, each a few mutated frames, until the deadline."""

    def __init__(self, index: int, bootstrap: str, corpus: list[bytes], deadline: float) -> None:
        super().__init__(name=f"fuzz-{index}", daemon=True)
        self.rng = random.Random(SEED * 1000 + index)
        host, port = bootstrap.rsplit(":", 1)
        self.address = (host, int(port))
        self.corpus = corpus
        self.deadline = deadline
        self.frames = self.connections = self.answered = self.closed = 0
        self.failure: BaseException | None = None

    def mutated(self) -> bytes:
        rng = self.rng
        while True:
            frame = bytearray(rng.choice(self.corpus))
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                if frame:
                    frame = rng.choice(MUTATIONS)(rng, frame, self.corpus)
            if safe(frame):
                return bytes(frame)

    def run(self) -> None:
        partial: list[socket.socket] = []
        try:
            while time.monotonic() < self.deadline:
                self.one_connection(partial)
        except BaseException as exc:  # noqa: BLE001  # reported by the test
            self.failure = exc
        finally:
            for sock in partial:
                sock.close()

    def one_connection(self, partial: list[socket.socket]) -> None:
        rng = self.rng
        data = b"".join(framed(rng, self.mutated()) for _ in range(rng.choice((1, 1, 2, 4))))
        self.connections += 1
        sock = socket.create_connection(self.address, timeout=5)
        if rng.random() < 0.05:  # left open mid-frame
            sock.sendall(data[: rng.randrange(1, len(data))] if len(data) > 1 else data)
            partial.append(sock)
            if len(partial) > PARTIAL_OPEN:
                partial.pop(0).close()
            return
        try:
            sock.sendall(data)
            self.frames += 1
            sock.settimeout(ANSWER_WAIT_S)
            received = 0
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    self.closed += 1
                    break
                received += len(chunk)
        except TimeoutError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            self.closed += 1
        finally:
            sock.close()
        if received:
            self.answered += 1


# ------------------------------------------------------------------ the test

def test_mutated_frames_while_a_canary_works(fuzz_broker: Broker, error_records: ErrorRecords) -> None:
    bootstrap = fuzz_broker.bootstrap_servers
    captured = captured_frames(fuzz_broker)
    assert {struct.unpack_from(">h", f)[0] for f in captured} >= {
        ApiKey.PRODUCE, ApiKey.FETCH, ApiKey.METADATA, ApiKey.INIT_PRODUCER_ID, ApiKey.FIND_COORDINATOR,
        ApiKey.OFFSET_COMMIT, ApiKey.END_TXN}
    corpus = [f for f in captured if safe(f)] + generated_frames(advertised_versions(bootstrap))

    with Bystander(bootstrap) as canary:
        deadline = time.monotonic() + BUDGET_S
        workers = [Worker(i, bootstrap, corpus, deadline) for i in range(WORKERS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(BUDGET_S + 60)
        assert not any(w.is_alive() for w in workers)
        failures = [w.failure for w in workers if w.failure is not None]
        assert not failures, failures
    # Bystander's exit asserted every canary record acknowledged and read back in order.
    assert canary.sent > 0

    totals = {k: sum(getattr(w, k) for w in workers) for k in ("connections", "frames", "answered", "closed")}
    print(f"fuzz seed {SEED}: corpus {len(corpus)} frames ({len(captured)} captured), {totals}, "
          f"canary {canary.sent} records")
    # Both kinds of outcome happened: answers (handlers ran) and closes (decoders refused).
    assert totals["answered"] > 0 and totals["closed"] > 0

    versions = ask(bootstrap, ApiVersionsRequest(), 0)
    assert versions is not None and versions.error_code == ErrorCode.NONE
    metadata = ask(bootstrap, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=canary.topic)]), 12)
    assert metadata is not None and metadata.topics[0].error_code == ErrorCode.NONE
    formatter = logging.Formatter("%(name)s: %(message)s")
    assert not error_records.records, "\n".join(formatter.format(r) for r in error_records.records[:5])


@pytest.mark.parametrize("frame", [
    # 1,000,001 empty topic names, every byte present: decodable but for the cap
    pytest.param(struct.pack(">hhih", ApiKey.METADATA, 4, 7, -1) + struct.pack(">i", 1_000_001)
                 + b"\x00\x00" * 1_000_001 + b"\x00", id="array-of-1000001"),
    # 10,001 unknown tagged fields of two bytes, then a good ApiVersions v3 body
    pytest.param(struct.pack(">hhih", ApiKey.API_VERSIONS, 3, 7, -1) + b"\x91\x4e" + b"\x00\x00" * 10_001
                 + b"\x02a\x021\x00", id="header-with-10001-tagged-fields"),
    pytest.param(struct.pack(">hhih", ApiKey.METADATA, 4, 7, -1) + b"\x7f\xff\xff\xff" + bytes(64),
                 id="array-of-2**31-1-in-64-bytes"),
])
def test_counts_above_the_caps_close_the_connection(fuzz_broker: Broker, frame: bytes) -> None:
    """Kafka closes the connection of a request it cannot parse; the caps make these
    unparseable before anything of their claimed size is built, and the broker serves
    the next connection."""
    host, port = fuzz_broker.bootstrap_servers.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        assert sock.recv(1) == b""
    answer = ask(fuzz_broker.bootstrap_servers, ApiVersionsRequest(), 0)
    assert answer is not None and answer.error_code == ErrorCode.NONE
