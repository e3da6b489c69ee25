"""Request-decoder micro-benchmark: what the decoders' count caps cost.

Run from the repository root: ``python benchmarks/wire_decode.py``. Prints
microseconds per decode (best of 5 rounds) for the decoders a broker runs on every
request, on frames shaped as clients send them:

  * Produce v9 and v3, one partition with a 16 KB batch: the hand-tuned decoder
    (kafkapy/wire/produce_fast.py) and the generated one;
  * Produce v9 with 100 partitions of 1 KB each (the generated decoder's loops);
  * Fetch v12 with 20 topics x 10 partitions (a follower's or a busy consumer's fetch);
  * Metadata v12 naming 100 topics;
  * OffsetCommit v8, 50 partitions; ApiVersions v3 (header tagged fields);
  * Metadata response v12 with 100 topics x 6 partitions (the client side's decoder,
    int32 arrays through ``r_fixed``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkapy.wire.codec import ClientCodec  # noqa: E402
from kafkapy.wire.headers import decode_request_header  # noqa: E402
from kafkapy.wire.message import Message  # noqa: E402
from kafkapy.wire.messages.api_versions import ApiVersionsRequest  # noqa: E402
from kafkapy.wire.messages.fetch import FetchRequest  # noqa: E402
from kafkapy.wire.messages.metadata import MetadataRequest, MetadataResponse  # noqa: E402
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest  # noqa: E402
from kafkapy.wire.messages.produce import ProduceRequest  # noqa: E402
from kafkapy.wire.produce_fast import decode_produce_request  # noqa: E402
from wire import RECORDS, bench  # noqa: E402  (benchmarks/wire.py, beside this file)

def frame(body: Message, version: int) -> memoryview:
    """The request frame (header + body) without its size prefix."""
    _, chunks = ClientCodec("bench-client").encode_request(body, version)
    return memoryview(b"".join(bytes(c) for c in chunks)[4:])


def generic(buf: memoryview) -> Callable[[], object]:
    from kafkapy.wire.apis import api_info

    def run() -> object:
        header, pos = decode_request_header(buf, 0)
        info = api_info(header.request_api_key)
        return info.request_class.decode(buf, pos, header.request_api_version)  # type: ignore[union-attr]
    return run


def fast_produce(buf: memoryview) -> Callable[[], object]:
    def run() -> object:
        header, pos = decode_request_header(buf, 0)
        return decode_produce_request(buf, pos, header.request_api_version)
    return run


def produce(partitions: int, size: int) -> ProduceRequest:
    return ProduceRequest(acks=-1, timeout_ms=30000, topic_data=[ProduceRequest.TopicProduceData(
        name="bench-topic", partition_data=[ProduceRequest.PartitionProduceData(index=i, records=RECORDS[:size])
                                            for i in range(partitions)])])


def workloads() -> dict[str, Callable[[], object]]:
    fetch = FetchRequest(replica_id=-1, max_wait_ms=500, min_bytes=1, max_bytes=50 << 20, topics=[
        FetchRequest.FetchTopic(topic=f"topic-{t:02d}", partitions=[
            FetchRequest.FetchPartition(partition=p, fetch_offset=1000 * p, partition_max_bytes=1 << 20)
            for p in range(10)]) for t in range(20)])
    metadata = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=f"topic-{t:03d}")
                                       for t in range(100)])
    commit = OffsetCommitRequest(group_id="bench-group", generation_id_or_member_epoch=3, member_id="m-1",
                                 topics=[OffsetCommitRequest.OffsetCommitRequestTopic(name="bench-topic", partitions=[
                                     OffsetCommitRequest.OffsetCommitRequestPartition(
                                         partition_index=p, committed_offset=p * 10) for p in range(50)])])
    api_versions = ApiVersionsRequest(client_software_name="bench", client_software_version="1.0")
    brokers = [MetadataResponse.MetadataResponseBroker(node_id=i, host=f"broker-{i}.example", port=9092)
               for i in range(3)]
    topics = [MetadataResponse.MetadataResponseTopic(
        name=f"topic-{t:03d}", topic_id=uuid.UUID(int=t + 1).bytes, partitions=[
            MetadataResponse.MetadataResponsePartition(
                partition_index=p, leader_id=p % 3, leader_epoch=5, replica_nodes=[p % 3, (p + 1) % 3, (p + 2) % 3],
                isr_nodes=[p % 3, (p + 1) % 3, (p + 2) % 3], offline_replicas=[])
            for p in range(6)]) for t in range(100)]
    meta_response = memoryview(MetadataResponse(brokers=brokers, cluster_id="bench-cluster", controller_id=0,
                                                topics=topics).to_bytes(12))
    p9, p3 = frame(produce(1, len(RECORDS)), 9), frame(produce(1, len(RECORDS)), 3)
    many = frame(produce(100, 1024), 9)
    return {
        "produce v9 16 KB, fast": fast_produce(p9),
        "produce v9 16 KB, generated": generic(p9),
        "produce v3 16 KB, fast": fast_produce(p3),
        "produce v9 100 x 1 KB, fast": fast_produce(many),
        "produce v9 100 x 1 KB, generated": generic(many),
        "fetch v12 20 x 10": generic(frame(fetch, 12)),
        "metadata v12 100 topics": generic(frame(metadata, 12)),
        "offset_commit v8 50": generic(frame(commit, 8)),
        "api_versions v3": generic(frame(api_versions, 3)),
        "metadata response v12 100 x 6": lambda: MetadataResponse.decode(meta_response, 0, 12),
    }


def main() -> None:
    for name, fn in workloads().items():
        print(f"{name:36s} {bench(fn):9.2f} µs")


if __name__ == "__main__":
    main()
