"""Fetch sessions (KIP-227) against an in-process broker over TCP: raw Fetch requests,
and consumers of many partitions fed while they read (kafka-python and the Java
client use incremental sessions; librdkafka sends only sessionless fetches).

The replica manager reports partition changes to the session cache
(``ReplicaManager.partition_listeners``), so an incremental fetch reads only the
session partitions that changed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as CkTopicPartition

from kafkapy.broker.handlers.fetch import session_cache
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.delete_records import DeleteRecordsRequest
from kafkapy.wire.messages.fetch import FetchRequest
from tests.reference import kafka_tool, needs_reference

V_NAMES, V_IDS = 12, 17
SLOTS = "max.incremental.fetch.session.cache.slots"


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


@pytest.fixture
def topic() -> str:
    return f"fs-{uuid.uuid4().hex[:10]}"


def cache_of(broker: Broker):
    return broker.call(lambda: session_cache(broker.core))


def produce(broker: Broker, topic: str, counts: dict[int, int], prefix: str = "v") -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 0})
    for partition, n in counts.items():
        for i in range(n):
            p.produce(topic, value=f"{prefix}-{partition}-{i}".encode(), partition=partition)
    assert p.flush(30) == 0


def topic_id(broker: Broker, topic: str) -> bytes:
    return broker.call(lambda: broker.core.image.topics_by_name[topic].id)


class Fetcher:
    """A raw Fetch client keeping a session as a consumer would (Kafka's FetchSessionHandler)."""

    def __init__(self, broker: Broker, topic: str, partitions: int, *, version: int = V_NAMES) -> None:
        self.conn = KafkaConnection(broker.bootstrap_servers, timeout_s=30)
        self.topic = topic
        self.version = version
        self.topic_id = topic_id(broker, topic) if version >= 13 else bytes(16)
        self.offsets = dict.fromkeys(range(partitions), 0)
        self.session_id = 0
        self.epoch = 0

    def request(self, partitions, *, session_id=None, epoch=None, forgotten=(), max_wait_ms=0, min_bytes=0,
                version=None, topic_id=None):
        topic = FetchRequest.FetchTopic(
            topic=self.topic, topic_id=topic_id or self.topic_id,
            partitions=[FetchRequest.FetchPartition(partition=p, fetch_offset=self.offsets.get(p, 0),
                                                    partition_max_bytes=1 << 20) for p in partitions])
        forget = [FetchRequest.ForgottenTopic(topic=self.topic, topic_id=self.topic_id, partitions=list(forgotten))]
        req = FetchRequest(max_wait_ms=max_wait_ms, min_bytes=min_bytes, max_bytes=50 << 20,
                           session_id=self.session_id if session_id is None else session_id,
                           session_epoch=self.epoch if epoch is None else epoch,
                           topics=[topic] if partitions else [], forgotten_topics_data=forget if forgotten else [])
        return self.conn.request(req, version or self.version)

    def full(self, **kw):
        """A full fetch of every partition (epoch 0); keeps the session it creates."""
        resp = self.request(list(self.offsets), session_id=0, epoch=0, **kw)
        assert resp.error_code == 0
        self.session_id, self.epoch = resp.session_id, 1
        return self._take(resp)

    def incremental(self, partitions=(), **kw):
        """An incremental fetch naming ``partitions`` (new offsets); the answer by partition."""
        resp = self.request(list(partitions), **kw)
        assert resp.error_code == 0, ErrorCode(resp.error_code).name
        assert resp.session_id == self.session_id
        self.epoch += 1
        return self._take(resp)

    def _take(self, resp) -> dict:
        out = {}
        for t in resp.responses:
            for pd in t.partitions:
                out[pd.partition_index] = pd
        return out

    def advance(self, answer: dict) -> list[int]:
        """Move past the records answered (to the high watermark, all being read)."""
        moved = []
        for p, pd in answer.items():
            if records_size(pd) and pd.high_watermark > self.offsets[p]:
                self.offsets[p] = pd.high_watermark
                moved.append(p)
        return moved

    def close(self) -> None:
        self.conn.close()


def records_size(pd) -> int:
    records = pd.records
    if not records:
        return 0
    if isinstance(records, list):
        return sum(len(r) for r in records)
    return len(records)


def test_incremental_fetch_answers_only_what_changed(broker, topic):
    broker.create_topics(topic, partitions=6)
    produce(broker, topic, dict.fromkeys(range(6), 3))
    f = Fetcher(broker, topic, 6)
    try:
        first = f.full()
        assert f.session_id > 0
        assert sorted(first) == list(range(6))
        assert all(records_size(pd) > 0 and pd.high_watermark == 3 for pd in first.values())
        # The client names the partitions whose fetch offset moved; nothing new to say.
        assert f.incremental(f.advance(first)) == {}
        assert f.incremental() == {}
        # New records on one partition: only it is answered.
        produce(broker, topic, {4: 2}, prefix="w")
        answer = f.incremental()
        assert list(answer) == [4]
        assert answer[4].high_watermark == 5 and records_size(answer[4]) > 0
        assert f.incremental(f.advance(answer)) == {}
        assert f.incremental() == {}
        session = cache_of(broker).get(f.session_id)
        assert broker.call(lambda: set(session.dirty)) == set()  # idle partitions are clean
    finally:
        f.close()


def test_byte_limit_leaves_partitions_dirty_until_read(broker, topic):
    broker.create_topics(topic, partitions=3)
    produce(broker, topic, dict.fromkeys(range(3), 20))
    conn = KafkaConnection(broker.bootstrap_servers, timeout_s=30)
    try:
        def req(session_id, epoch, parts):
            return conn.request(FetchRequest(
                max_wait_ms=0, min_bytes=0, max_bytes=1, session_id=session_id, session_epoch=epoch,
                topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                    FetchRequest.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
                    for p, o in parts])] if parts else []), V_NAMES)

        # max_bytes 1: each answer holds the first batch of one partition only.
        first = req(0, 0, [(0, 0), (1, 0), (2, 0)])
        session_id = first.session_id
        assert session_id > 0
        with_records = [pd.partition_index for t in first.responses for pd in t.partitions if records_size(pd)]
        assert with_records == [0]
        # The other two had records that did not fit: later answers bring them, in turn,
        # although the client names no partition (their offsets did not move).
        got = set()
        epoch = 1
        for _ in range(6):
            answer = req(session_id, epoch, [])
            epoch += 1
            got.update(pd.partition_index for t in answer.responses for pd in t.partitions if records_size(pd))
            if {1, 2} <= got:
                break
        assert {1, 2} <= got
    finally:
        conn.close()


def test_incremental_long_poll_wakes_on_new_records(broker, topic):
    broker.create_topics(topic, partitions=8)
    produce(broker, topic, dict.fromkeys(range(8), 1))
    f = Fetcher(broker, topic, 8)
    try:
        f.incremental(f.advance(f.full()))
        result: dict = {}

        def poll() -> None:
            # Bounded by the connection's 30 s timeout, far below max_wait_ms: only a
            # wake-up by the new records answers it.
            result["answer"] = f.incremental(max_wait_ms=300_000, min_bytes=1)

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.3)
        produce(broker, topic, {6: 1}, prefix="late")
        t.join(60)
        assert not t.is_alive()
        answer = result["answer"]
        assert list(answer) == [6] and records_size(answer[6]) > 0
    finally:
        f.close()


def test_log_start_move_is_answered(broker, topic):
    broker.create_topics(topic, partitions=3)
    produce(broker, topic, dict.fromkeys(range(3), 4))
    f = Fetcher(broker, topic, 3)
    try:
        f.incremental(f.advance(f.full()))
        with KafkaConnection(broker.bootstrap_servers) as conn:
            deleted = conn.request(DeleteRecordsRequest(timeout_ms=5000, topics=[
                DeleteRecordsRequest.DeleteRecordsTopic(name=topic, partitions=[
                    DeleteRecordsRequest.DeleteRecordsPartition(partition_index=1, offset=2)])]), 2)
        assert deleted.topics[0].partitions[0].error_code == 0
        answer = f.incremental()
        assert list(answer) == [1]
        assert answer[1].log_start_offset == 2 and records_size(answer[1]) == 0
        assert f.incremental() == {}
    finally:
        f.close()


def test_forgotten_partitions_are_no_longer_answered(broker, topic):
    broker.create_topics(topic, partitions=4)
    f = Fetcher(broker, topic, 4)
    try:
        f.full()
        assert f.incremental(forgotten=[1, 2]) == {}
        produce(broker, topic, {1: 1, 2: 1, 3: 1})
        assert list(f.incremental()) == [3]
        session = cache_of(broker).get(f.session_id)
        assert broker.call(lambda: sorted(c.partition for c in session.partitions.values())) == [0, 3]
        # Forgetting the rest closes the session: answered without one (Kafka's
        # SessionlessFetchContext).
        resp = f.request([], forgotten=[0, 3])
        assert resp.error_code == 0 and resp.session_id == 0 and resp.responses == []
        assert cache_of(broker).get(f.session_id) is None
    finally:
        f.close()


def test_session_errors(broker, topic):
    broker.create_topics(topic, partitions=2)
    f = Fetcher(broker, topic, 2)
    try:
        f.full()

        def error(**kw) -> ErrorCode:
            resp = f.request([0], **kw)
            assert resp.responses == []
            assert resp.session_id == 0
            return ErrorCode(resp.error_code)

        assert error(session_id=f.session_id + 1, epoch=1) == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
        assert error(session_id=0, epoch=1) == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
        assert error(epoch=5) == ErrorCode.INVALID_FETCH_SESSION_EPOCH
        assert error(epoch=-7) == ErrorCode.INVALID_FETCH_SESSION_EPOCH
        # A session by names asked with topic ids (v13+).
        assert error(version=V_IDS, topic_id=topic_id(broker, topic)) == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR
        # The errors left the session as it was.
        assert f.incremental() == {}
        # FINAL_EPOCH closes it and makes no new one.
        resp = f.request([0], epoch=-1)
        assert resp.error_code == 0 and resp.session_id == 0
        assert error(epoch=f.epoch) == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    finally:
        f.close()


def test_fetch_v6_has_no_session(broker, topic):
    broker.create_topics(topic, partitions=1)
    f = Fetcher(broker, topic, 1)
    try:
        resp = f.request([0], version=6)
        assert resp.error_code == 0 and resp.session_id == 0
    finally:
        f.close()


def test_topic_id_session_keeps_unknown_topic_ids(broker, topic):
    broker.create_topics(topic, partitions=2)
    f = Fetcher(broker, topic, 2, version=V_IDS)
    unknown = uuid.uuid4().bytes
    try:
        resp = f.conn.request(FetchRequest(
            max_wait_ms=0, session_id=0, session_epoch=0, topics=[
                FetchRequest.FetchTopic(topic_id=f.topic_id, partitions=[
                    FetchRequest.FetchPartition(partition=p, partition_max_bytes=1024) for p in (0, 1)]),
                FetchRequest.FetchTopic(topic_id=unknown, partitions=[
                    FetchRequest.FetchPartition(partition=0, partition_max_bytes=1024)])]), V_IDS)
        assert resp.error_code == 0 and resp.session_id > 0
        codes = {(t.topic_id, pd.partition_index): pd.error_code for t in resp.responses for pd in t.partitions}
        assert codes == {(f.topic_id, 0): 0, (f.topic_id, 1): 0, (unknown, 0): ErrorCode.UNKNOWN_TOPIC_ID}
        f.session_id, f.epoch = resp.session_id, 1
        # The unknown id stays in the session and its error is repeated; the known
        # partitions, idle, are left out.
        for _ in range(2):
            again = f.conn.request(FetchRequest(session_id=f.session_id, session_epoch=f.epoch), V_IDS)
            f.epoch += 1
            assert again.error_code == 0
            assert [(t.topic_id, [(pd.partition_index, pd.error_code) for pd in t.partitions])
                    for t in again.responses] == [(unknown, [(0, ErrorCode.UNKNOWN_TOPIC_ID)])]
        produce(broker, topic, {1: 1})
        again = f.conn.request(FetchRequest(session_id=f.session_id, session_epoch=f.epoch), V_IDS)
        answered = {(t.topic_id, pd.partition_index) for t in again.responses for pd in t.partitions}
        assert answered == {(f.topic_id, 1), (unknown, 0)}
    finally:
        f.close()


def test_session_cache_slots_limit():
    # 8 slots: one per cache shard, as Kafka splits them.
    with Broker({SLOTS: "8"}) as b:
        t = f"fs-{uuid.uuid4().hex[:10]}"
        b.create_topics(t, partitions=1)
        produce(b, t, {0: 1})
        fetchers = [Fetcher(b, t, 1) for _ in range(9)]
        try:
            ids = []
            for f in fetchers:
                answer = f.full()
                assert records_size(answer[0]) > 0  # answered in full either way
                ids.append(f.session_id)
            assert all(ids[:8]) and len(set(ids[:8])) == 8
            assert ids[8] == 0  # no room, nothing evictable (all younger than 120 s)
            assert len(cache_of(b)) == 8
        finally:
            for f in fetchers:
                f.close()
    with Broker({SLOTS: "0"}) as b:
        t = f"fs-{uuid.uuid4().hex[:10]}"
        b.create_topics(t, partitions=1)
        f = Fetcher(b, t, 1)
        try:
            f.full()
            assert f.session_id == 0
        finally:
            f.close()


# --- clients ------------------------------------------------------------------------------

PARTITIONS, RECORDS = 40, 4000


def produce_while(broker: Broker, topic: str, stop_after: int) -> threading.Thread:
    """Produce ``stop_after`` records over every partition, in small bursts, in a thread."""

    def run() -> None:
        p = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 2})
        for i in range(stop_after):
            p.produce(topic, value=b"r%d" % i, partition=(i * 7) % PARTITIONS)
            if i % 200 == 199:
                p.flush(30)
                time.sleep(0.05)
        assert p.flush(30) == 0

    t = threading.Thread(target=run)
    t.start()
    return t


def expected_values() -> set[bytes]:
    return {b"r%d" % i for i in range(RECORDS)}


def test_kafka_python_consumes_many_partitions_through_a_session(broker, topic):
    import kafka

    broker.create_topics(topic, partitions=PARTITIONS)
    consumer = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest",
                                   enable_auto_commit=False, fetch_max_wait_ms=200)
    try:
        consumer.assign([kafka.TopicPartition(topic, p) for p in range(PARTITIONS)])
        consumer.seek_to_beginning()
        producer = produce_while(broker, topic, RECORDS)
        got: list[bytes] = []
        deadline = time.monotonic() + 90
        while len(got) < RECORDS and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
        producer.join(60)
        assert len(got) == RECORDS and set(got) == expected_values()
        sessions = sessions_of(broker, topic)
        assert sessions and max(epoch for _, _, epoch in sessions) > 2  # incremental fetches were used
    finally:
        consumer.close()


def test_confluent_kafka_consumes_many_partitions(broker, topic):
    broker.create_topics(topic, partitions=PARTITIONS)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "unused",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 200})
    try:
        consumer.assign([CkTopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        producer = produce_while(broker, topic, RECORDS)
        got: list[bytes] = []
        deadline = time.monotonic() + 90
        while len(got) < RECORDS and time.monotonic() < deadline:
            for m in consumer.consume(500, 0.5):
                assert m.error() is None, m.error()
                got.append(m.value())
        producer.join(60)
        assert len(got) == RECORDS and set(got) == expected_values()
    finally:
        consumer.close()


def sessions_of(broker: Broker, topic: str) -> list[tuple[int, bool, int]]:
    """(id, uses topic ids, epoch) of the sessions holding partitions of ``topic``."""
    return broker.call(lambda: [(s.id, s.uses_topic_ids, s.epoch) for sh in session_cache(broker.core).shards
                                for s in sh.sessions.values()
                                if any(c.topic == topic for c in s.partitions.values())])


@needs_reference
def test_java_console_consumer_reads_many_partitions_through_a_session(broker, topic):
    broker.create_topics(topic, partitions=PARTITIONS)
    result: dict[str, str] = {}

    def consume() -> None:
        result["out"] = kafka_tool("consumer.ConsoleConsumer", "--bootstrap-server", broker.bootstrap_servers,
                                   "--topic", topic, "--from-beginning", "--max-messages", str(RECORDS),
                                   "--timeout-ms", "60000", "--command-property", "fetch.max.wait.ms=200")

    consumer = threading.Thread(target=consume)
    consumer.start()
    seen: dict[int, tuple[bool, int]] = {}
    # Produce once the consumer has its session, so that the records come in many answers.
    deadline = time.monotonic() + 60
    while consumer.is_alive() and not sessions_of(broker, topic) and time.monotonic() < deadline:
        time.sleep(0.05)
    producer = produce_while(broker, topic, RECORDS)
    # The Java client closes its session when it exits: look at it while it reads.
    while consumer.is_alive():
        for session_id, uses_ids, epoch in sessions_of(broker, topic):
            seen[session_id] = (uses_ids, epoch)
        time.sleep(0.05)
    producer.join(60)
    lines = [line.encode() for line in result["out"].splitlines() if line.startswith("r")]
    assert len(lines) == RECORDS and set(lines) == expected_values()
    # A session by topic ids (Fetch v17), fetched incrementally.
    assert any(uses_ids and epoch > 2 for uses_ids, epoch in seen.values()), seen
