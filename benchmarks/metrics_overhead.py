"""What the metrics cost: the counters added per request, and one /metrics scrape.

* per request: ``BrokerMetrics.on_request`` plus ``on_produce`` / ``on_fetch`` for a
  one-partition Produce and Fetch, as the dispatcher and the handlers call them (the
  error count walks the response; the time goes into a bucket);
* per scrape: ``generate_latest`` over the broker's registry on an in-process broker
  with ``--topics`` topics that each had a produce and a fetch, and one group.

Usage: ``python benchmarks/metrics_overhead.py [--topics 100]``. Compare the per-request
figure with the broker's CPU time per request (``benchmarks/throughput.py``'s produce-ack
latency is an upper bound of it).
"""

from __future__ import annotations

import argparse
import time
import timeit

from kafkapy.broker.metrics import BrokerMetrics
from kafkapy.wire.messages.fetch import FetchRequest, FetchResponse
from kafkapy.wire.messages.produce import ProduceRequest, ProduceResponse


def per_request_us(n: int = 200_000) -> tuple[float, float]:
    metrics = BrokerMetrics()
    produce = ProduceResponse(responses=[ProduceResponse.TopicProduceResponse(
        name="t", partition_responses=[ProduceResponse.PartitionProduceResponse(index=0)])])
    fetch = FetchResponse(responses=[FetchResponse.FetchableTopicResponse(
        topic="t", partitions=[FetchResponse.PartitionData(partition_index=0)])])
    produce_request, fetch_request = ProduceRequest(), FetchRequest(replica_id=-1)

    def one_produce() -> None:
        started = time.perf_counter()
        metrics.on_produce("t", 170, 0, 1)
        metrics.on_request(0, 11, produce_request, produce, started)

    def one_fetch() -> None:
        started = time.perf_counter()
        metrics.on_fetch("t", 1700, 0, False)
        metrics.on_request(1, 12, fetch_request, fetch, started)

    return (min(timeit.repeat(one_produce, number=n, repeat=3)) / n * 1e6,
            min(timeit.repeat(one_fetch, number=n, repeat=3)) / n * 1e6)


def scrape_ms(topics: int) -> tuple[float, int]:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from prometheus_client import generate_latest

    from kafkapy.config import METRICS_LISTENER
    from kafkapy.server.metrics_http import registry_for
    from kafkapy.testing import Broker

    with Broker({METRICS_LISTENER: "http://127.0.0.1:0"}) as broker:
        names = [f"bench-{i}" for i in range(topics)]
        broker.create_topics(*names)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 5})
        for name in names:
            producer.produce(name, b"v" * 100)
        producer.flush(30)
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "bench",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition(name, 0, 0) for name in names])
        got = 0
        deadline = time.monotonic() + 30
        while got < topics and time.monotonic() < deadline:
            got += sum(1 for m in consumer.consume(1000, 1) if m.error() is None)
        consumer.commit(offsets=[TopicPartition(name, 0, 1) for name in names], asynchronous=False)
        consumer.close()
        registry = broker.call(lambda: registry_for(broker.core))

        def scrape() -> tuple[float, int]:
            body = generate_latest(registry)
            best = min(timeit.repeat(lambda: generate_latest(registry), number=5, repeat=3)) / 5
            return best * 1000, body.count(b"\n")

        return broker.call(scrape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=100)
    args = parser.parse_args()
    produce_us, fetch_us = per_request_us()
    print(f"counters per one-partition Produce request   {produce_us:8.2f} us")
    print(f"counters per one-partition Fetch request     {fetch_us:8.2f} us")
    ms, lines = scrape_ms(args.topics)
    print(f"one scrape, {args.topics} topics with traffic ({lines} lines)  {ms:8.2f} ms")


if __name__ == "__main__":
    main()
