"""Requests a client never sends, answered as Apache Kafka 4.4.0 answers them.

The same raw requests go to kafkapy (in process) and to the reference broker
(``compat_tests.brokers.start_reference``), each on a fresh connection, and the
answers must carry the same error codes (issue 13, "Bad input"). Produce:

* a batch whose magic byte is 0 or 1 (a transactional v2 batch mutated, or not
  transactional), with and without a transactional id, at Produce v3, v9 and v12:
  INVALID_RECORD (``ProduceRequest.validateRecords``), never a closed connection;
  kafkapy's transaction verification once raised on it and closed the connection;
* a magic above 2: CORRUPT_MESSAGE ("Invalid magic found in record");
* a transactional batch that fails ``ProduceRequest.validateRecords`` (two batches,
  zstd before v7) gets that check's error, not the transaction verification's, which
  ``KafkaApis`` runs later; a bad CRC is found after the verification, as in Kafka;
* records that do not decode behind a good CRC on a compacted topic: INVALID_RECORD
  (``DefaultRecord.readFrom``).

Metadata v10-11 naming a topic by id or with a null name (found by
tests/broker/test_fuzz_frames.py: kafkapy failed encoding the answer and closed the
connection): INVALID_REQUEST for each topic, a null name answered as "".
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import pytest

from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.produce import ProduceRequest
from kafkapy.wire.records import (
    CRC_OFFSET,
    MAGIC_OFFSET,
    RECORDS_OFFSET,
    Compression,
    Record,
    build_batch,
    compute_crc,
)
from tests.reference import needs_reference
from tests.requests import ask

pytestmark = needs_reference

PLAIN, COMPACTED = "bad-batches", "bad-batches-compacted"


def create_topics(bootstrap: str) -> None:
    topics = [CreateTopicsRequest.CreatableTopic(name=PLAIN, num_partitions=1, replication_factor=1),
              CreateTopicsRequest.CreatableTopic(name=COMPACTED, num_partitions=1, replication_factor=1, configs=[
                  CreateTopicsRequest.CreatableTopicConfig(name="cleanup.policy", value="compact")])]
    answer = ask(bootstrap, CreateTopicsRequest(topics=topics, timeout_ms=30_000), 5)
    assert answer is not None and [t.error_code for t in answer.topics] == [0, 0]
    deadline = time.monotonic() + 30
    while produce_code(bootstrap, PLAIN, good_batch(), None, 9) != ErrorCode.NONE:  # leaders elected
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.fixture(scope="module")
def kafka() -> Iterator[str]:
    from compat_tests.brokers import start_reference

    broker = start_reference()
    try:
        create_topics(broker.bootstrap)
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def kafkapy() -> Iterator[str]:
    with Broker() as broker:
        create_topics(broker.bootstrap_servers)
        yield broker.bootstrap_servers


def good_batch(*, transactional: bool = False, compression: Compression = Compression.NONE) -> bytes:
    pid, epoch, seq = (4000, 0, 0) if transactional else (-1, -1, -1)
    return build_batch([Record(0, 0, b"k", b"v")], base_timestamp=int(time.time() * 1000), producer_id=pid,
                       producer_epoch=epoch, base_sequence=seq, is_transactional=transactional,
                       compression=compression)


def with_magic(batch: bytes, magic: int) -> bytes:
    b = bytearray(batch)
    b[MAGIC_OFFSET] = magic
    return bytes(b)


def garbled(kind: str) -> bytes:
    """Two records whose bytes do not decode, under a CRC recomputed to match."""
    b = bytearray(build_batch([Record(0, 0, b"k", b"v"), Record(1, 0, b"k2", b"v2")],
                              base_timestamp=int(time.time() * 1000)))
    if kind == "record-length":
        b[RECORDS_OFFSET] = 0x7F  # the first record claims -64 bytes (zigzag)
    elif kind == "key-length":
        b[RECORDS_OFFSET + 4] = 0x41  # the first key claims -33 bytes
    else:  # "trailing-bytes": two bytes after the last record, counted in batchLength
        b += b"\x00\x00"
        struct.pack_into(">i", b, 8, len(b) - 12)
    struct.pack_into(">I", b, CRC_OFFSET, compute_crc(b, 0, len(b)))
    return bytes(b)


def produce_code(bootstrap: str, topic: str, batch: bytes, transactional_id: str | None,
                 version: int) -> ErrorCode | None:
    request = ProduceRequest(transactional_id=transactional_id, acks=-1, timeout_ms=10_000, topic_data=[
        ProduceRequest.TopicProduceData(name=topic, partition_data=[
            ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    answer = ask(bootstrap, request, version)
    return None if answer is None else ErrorCode(answer.responses[0].partition_responses[0].error_code)


MAGIC_CASES = [(version, txid, magic, transactional)
               for version in (3, 9, 12) for txid in (None, "bad-batches-tx")
               for magic in (0, 1, 3) for transactional in (True, False)]


@pytest.mark.parametrize("version,transactional_id,magic,transactional", MAGIC_CASES,
                         ids=[f"v{v}-{'txid' if t else 'no-txid'}-magic{m}-{'txn' if x else 'plain'}"
                              for v, t, m, x in MAGIC_CASES])
def test_a_batch_of_another_magic_is_answered_like_kafka(kafka: str, kafkapy: str, version: int,
                                                        transactional_id: str | None, magic: int,
                                                        transactional: bool) -> None:
    batch = with_magic(good_batch(transactional=transactional), magic)
    theirs = produce_code(kafka, PLAIN, batch, transactional_id, version)
    ours = produce_code(kafkapy, PLAIN, batch, transactional_id, version)
    assert ours == theirs
    assert ours == (ErrorCode.INVALID_RECORD if magic < 2 else ErrorCode.CORRUPT_MESSAGE)


def bad_crc(batch: bytes) -> bytes:
    b = bytearray(batch)
    b[CRC_OFFSET] ^= 0xFF
    return bytes(b)


ORDER_CASES = {
    "two-batches-v9": (lambda: good_batch(transactional=True) * 2, 9, ErrorCode.INVALID_RECORD),
    "zstd-v3": (lambda: good_batch(transactional=True, compression=Compression.ZSTD), 3,
                ErrorCode.UNSUPPORTED_COMPRESSION_TYPE),
    "bad-crc-v9": (lambda: bad_crc(good_batch(transactional=True)), 9, ErrorCode.NOT_ENOUGH_REPLICAS),
}


@pytest.mark.parametrize("case", list(ORDER_CASES))
def test_checks_before_and_after_the_transaction_verification_like_kafka(kafka: str, kafkapy: str,
                                                                        case: str) -> None:
    make, version, expected = ORDER_CASES[case]
    theirs = produce_code(kafka, PLAIN, make(), "bad-batches-tx", version)
    ours = produce_code(kafkapy, PLAIN, make(), "bad-batches-tx", version)
    assert ours == theirs == expected


@pytest.mark.parametrize("kind", ["record-length", "key-length", "trailing-bytes"])
def test_undecodable_records_on_a_compacted_topic_are_answered_like_kafka(kafka: str, kafkapy: str,
                                                                         kind: str) -> None:
    theirs = produce_code(kafka, COMPACTED, garbled(kind), None, 9)
    ours = produce_code(kafkapy, COMPACTED, garbled(kind), None, 9)
    assert ours == theirs == ErrorCode.INVALID_RECORD


@pytest.mark.parametrize("version", [10, 11])
@pytest.mark.parametrize("name,topic_id", [(None, bytes(16)), (None, b"\x07" * 16), (PLAIN, b"\x07" * 16)],
                         ids=["null-name", "null-name-with-id", "name-with-id"])
def test_metadata_by_id_before_v12_is_answered_like_kafka(kafka: str, kafkapy: str, version: int,
                                                         name: str | None, topic_id: bytes) -> None:
    request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name, topic_id=topic_id)],
                              allow_auto_topic_creation=False)

    def answer(bootstrap: str) -> list[tuple[int, str | None, bytes]] | None:
        response = ask(bootstrap, request, version)
        return None if response is None else [(t.error_code, t.name, t.topic_id) for t in response.topics]

    theirs, ours = answer(kafka), answer(kafkapy)
    assert ours == theirs == [(ErrorCode.INVALID_REQUEST, name or "", topic_id)]
