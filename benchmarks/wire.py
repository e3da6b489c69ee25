"""Codec micro-benchmarks: kafkapy.wire beside kafka-python 3.0.12 and kio 0.6.5.

Run from the repository root: ``python benchmarks/wire.py``. Prints microseconds
per operation (best of 5 rounds) for each library and kafkapy's speed-up over
kafka-python. Each library does the same work: building the response objects
counts for encoders; header parsing counts for the request decoder.

Workloads (protocol.md §5.3):
  * Produce request v9 decode, one partition holding one 16 KB batch (with header);
  * Produce response v9 encode, one partition (build + header + frame);
  * Fetch response v12 encode, one partition with 16 KB of records;
  * Metadata response v12 encode, 3 brokers, 100 topics x 6 partitions (RF 3),
    with and without kafkapy's cached per-topic fragments.
"""

from __future__ import annotations

import io
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkapy.wire.codec import ClientCodec, encode_response
from kafkapy.wire.fetch_fast import encode_fetch_response
from kafkapy.wire.headers import RequestHeader, decode_request_header
from kafkapy.wire.messages.fetch import FetchResponse
from kafkapy.wire.messages.metadata import MetadataResponse
from kafkapy.wire.messages.produce import ProduceRequest, ProduceResponse
from kafkapy.wire.metadata_fast import encode_metadata_response, encode_metadata_topic
from kafkapy.wire.produce_fast import decode_produce_request, encode_produce_response

RECORDS = bytes(range(256)) * 64  # 16 KB


def bench(fn: Callable[[], object], *, rounds: int = 5, budget: float = 0.2) -> float:
    """Best µs per call over ``rounds`` rounds of about ``budget`` seconds each."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t > budget / 10:
            break
        n *= 2
    n = max(1, int(n * budget / 10 / max(time.perf_counter() - t, 1e-9)))
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


# ---------------------------------------------------------------- kafkapy

def produce_frame() -> bytes:
    req = ProduceRequest(acks=-1, timeout_ms=30000, topic_data=[ProduceRequest.TopicProduceData(
        name="bench-topic", partition_data=[ProduceRequest.PartitionProduceData(index=0, records=RECORDS)])])
    _, chunks = ClientCodec("bench-client").encode_request(req, 9)
    return b"".join(bytes(c) for c in chunks)[4:]


def ours_produce_decode(frame: memoryview) -> Callable[[], object]:
    def run() -> object:
        header, pos = decode_request_header(frame, 0)
        return decode_produce_request(frame, pos, header.request_api_version)
    return run


def ours_produce_decode_generic(frame: memoryview) -> Callable[[], object]:
    def run() -> object:
        header, pos = decode_request_header(frame, 0)
        return ProduceRequest.decode(frame, pos, header.request_api_version)
    return run


PRODUCE_HEADER = RequestHeader(0, 9, 11, "bench-client", 2)
FETCH_HEADER = RequestHeader(1, 12, 12, "bench-client", 2)
METADATA_HEADER = RequestHeader(3, 12, 13, "bench-client", 2)


def produce_response() -> ProduceResponse:
    return ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(
        name="bench-topic", partition_responses=[ProduceResponse.PartitionProduceResponse(
            index=0, base_offset=123456, log_start_offset=0)])])


def fetch_response() -> FetchResponse:
    return FetchResponse(responses=[FetchResponse.FetchableTopicResponse(
        topic="bench-topic", partitions=[FetchResponse.PartitionData(
            partition_index=0, high_watermark=1000, last_stable_offset=1000, log_start_offset=0,
            aborted_transactions=None, records=RECORDS)])])


def metadata_response() -> MetadataResponse:
    brokers = [MetadataResponse.MetadataResponseBroker(node_id=i, host=f"broker-{i}.example", port=9092, rack=None)
               for i in range(3)]
    topics = [MetadataResponse.MetadataResponseTopic(
        name=f"topic-{t:03d}", topic_id=uuid.UUID(int=t + 1).bytes, partitions=[
            MetadataResponse.MetadataResponsePartition(
                partition_index=p, leader_id=p % 3, leader_epoch=5, replica_nodes=[p % 3, (p + 1) % 3, (p + 2) % 3],
                isr_nodes=[p % 3, (p + 1) % 3, (p + 2) % 3], offline_replicas=[])
            for p in range(6)]) for t in range(100)]
    return MetadataResponse(brokers=brokers, cluster_id="bench-cluster", controller_id=0, topics=topics)


# ---------------------------------------------------------------- kafka-python

def kp_workloads(frame: bytes) -> dict[str, Callable[[], object]]:
    from kafka.protocol.consumer.fetch import FetchResponse as KF
    from kafka.protocol.metadata.metadata import MetadataResponse as KM
    from kafka.protocol.producer.produce import ProduceRequest as KP
    from kafka.protocol.producer.produce import ProduceResponse as KPR

    def produce_response() -> object:
        r = KPR(responses=[KPR.TopicProduceResponse(name="bench-topic", partition_responses=[
            KPR.TopicProduceResponse.PartitionProduceResponse(index=0, error_code=0, base_offset=123456,
                                                               log_append_time_ms=-1, log_start_offset=0)])],
                throttle_time_ms=0, version=9)
        r.with_header(correlation_id=11)
        return r.encode(header=True, framed=True)

    def fetch_response() -> object:
        r = KF(throttle_time_ms=0, error_code=0, session_id=0, responses=[KF.FetchableTopicResponse(
            topic="bench-topic", partitions=[KF.FetchableTopicResponse.PartitionData(
                partition_index=0, error_code=0, high_watermark=1000, last_stable_offset=1000,
                log_start_offset=0, aborted_transactions=None, preferred_read_replica=-1,
                records=RECORDS)])], version=12)
        r.with_header(correlation_id=12)
        return r.encode(header=True, framed=True)

    brokers = [KM.MetadataResponseBroker(node_id=i, host=f"broker-{i}.example", port=9092, rack=None)
               for i in range(3)]
    topics = [KM.MetadataResponseTopic(
        error_code=0, name=f"topic-{t:03d}", topic_id=uuid.UUID(int=t + 1), is_internal=False, partitions=[
            KM.MetadataResponseTopic.MetadataResponsePartition(
                error_code=0, partition_index=p, leader_id=p % 3, leader_epoch=5,
                replica_nodes=[p % 3, (p + 1) % 3, (p + 2) % 3], isr_nodes=[p % 3, (p + 1) % 3, (p + 2) % 3],
                offline_replicas=[]) for p in range(6)]) for t in range(100)]
    meta = KM(throttle_time_ms=0, brokers=brokers, cluster_id="bench-cluster", controller_id=0, topics=topics,
              version=12)
    meta.with_header(correlation_id=13)
    return {
        "produce_decode": lambda: KP.decode(frame, version=9, header=True),
        "produce_response": produce_response,
        "fetch_response": fetch_response,
        "metadata_response": lambda: meta.encode(header=True, framed=True),
    }


# ---------------------------------------------------------------- kio

def kio_workloads(frame: bytes) -> dict[str, Callable[[], object]]:
    from kio.schema.errors import ErrorCode
    from kio.schema.fetch.v12 import response as kf
    from kio.schema.metadata.v12 import response as km
    from kio.schema.produce.v9 import request as kpq
    from kio.schema.produce.v9 import response as kpr
    from kio.schema.request_header.v2.header import RequestHeader as KHeader
    from kio.schema.response_header.v1.header import ResponseHeader as KRHeader
    from kio.serial import entity_reader, entity_writer

    read_header = entity_reader(KHeader)
    read_produce = entity_reader(kpq.ProduceRequest)
    write_rh = entity_writer(KRHeader)

    def produce_decode() -> object:
        header, n = read_header(frame, 0)
        return header, read_produce(frame, n)

    def framed(write: Callable, body: object, correlation_id: int) -> bytes:
        out = io.BytesIO()
        write_rh(out, KRHeader(correlation_id=correlation_id))
        write(out, body)
        data = out.getvalue()
        return len(data).to_bytes(4, "big") + data

    write_pr = entity_writer(kpr.ProduceResponse)
    write_fr = entity_writer(kf.FetchResponse)
    write_mr = entity_writer(km.MetadataResponse)

    def produce_response() -> object:
        body = kpr.ProduceResponse(responses=(kpr.TopicProduceResponse(name="bench-topic", partition_responses=(
            kpr.PartitionProduceResponse(index=0, error_code=ErrorCode.none, base_offset=123456,
                                         log_append_time=None, log_start_offset=0, record_errors=(),
                                         error_message=None),)),), throttle_time=timedelta(0))
        return framed(write_pr, body, 11)

    def fetch_response() -> object:
        body = kf.FetchResponse(throttle_time=timedelta(0), error_code=ErrorCode.none, session_id=0, responses=(
            kf.FetchableTopicResponse(topic="bench-topic", partitions=(kf.PartitionData(
                partition_index=0, error_code=ErrorCode.none, high_watermark=1000, last_stable_offset=1000,
                log_start_offset=0, aborted_transactions=None, preferred_read_replica=-1, records=RECORDS),)),))
        return framed(write_fr, body, 12)

    meta = km.MetadataResponse(
        throttle_time=timedelta(0),
        brokers=tuple(km.MetadataResponseBroker(node_id=i, host=f"broker-{i}.example", port=9092, rack=None)
                      for i in range(3)),
        cluster_id="bench-cluster", controller_id=0,
        topics=tuple(km.MetadataResponseTopic(
            error_code=ErrorCode.none, name=f"topic-{t:03d}", topic_id=uuid.UUID(int=t + 1), is_internal=False,
            partitions=tuple(km.MetadataResponsePartition(
                error_code=ErrorCode.none, partition_index=p, leader_id=p % 3, leader_epoch=5,
                replica_nodes=(p % 3, (p + 1) % 3, (p + 2) % 3), isr_nodes=(p % 3, (p + 1) % 3, (p + 2) % 3),
                offline_replicas=()) for p in range(6)),
            topic_authorized_operations=-2147483648) for t in range(100)))
    return {
        "produce_decode": produce_decode,
        "produce_response": produce_response,
        "fetch_response": fetch_response,
        "metadata_response": lambda: framed(write_mr, meta, 13),
    }


def main() -> None:
    frame = produce_frame()
    view = memoryview(frame)
    meta = metadata_response()
    fragments = [encode_metadata_topic(t, 12) for t in meta.topics]  # what a broker caches

    ours = {
        "produce_decode": ours_produce_decode(view),
        "produce_response": lambda: encode_produce_response(PRODUCE_HEADER, produce_response()),
        "fetch_response": lambda: encode_fetch_response(FETCH_HEADER, fetch_response()),
        "metadata_response": lambda: encode_metadata_response(METADATA_HEADER, meta),
        "metadata_response_cached": lambda: encode_metadata_response(METADATA_HEADER, meta, fragments),
    }
    generic = {
        "produce_decode": ours_produce_decode_generic(view),
        "produce_response": lambda: encode_response(PRODUCE_HEADER, produce_response()),
        "fetch_response": lambda: encode_response(FETCH_HEADER, fetch_response()),
        "metadata_response": lambda: encode_response(METADATA_HEADER, meta),
    }
    others = {"kafka-python": kp_workloads(frame), "kio": kio_workloads(frame)}
    labels = {
        "produce_decode": "Produce v9 request decode (16 KB batch)",
        "produce_response": "Produce v9 response encode (1 partition)",
        "fetch_response": "Fetch v12 response encode (1 p., 16 KB)",
        "metadata_response": "Metadata v12 response encode (100x6)",
        "metadata_response_cached": "  same, cached topic fragments",
    }
    print(f"python {sys.version.split()[0]}; µs per operation, best of 5")
    print(f"{'workload':42} {'kafkapy':>9} {'generic':>9} {'kafka-py':>9} {'kio':>9} {'vs k-py':>8}")
    for key, label in labels.items():
        ref_key = key.replace("_cached", "")
        ours_us = bench(ours[key])
        gen_us = bench(generic[key]) if key in generic else float("nan")
        kp_us = bench(others["kafka-python"][ref_key])
        kio_us = bench(others["kio"][ref_key])
        print(f"{label:42} {ours_us:9.2f} {gen_us:9.2f} {kp_us:9.2f} {kio_us:9.2f} {kp_us / ours_us:7.1f}x")
    print("generic = the generated codec without the hand-tuned path (encode_response / Message.decode)")


if __name__ == "__main__":
    main()
