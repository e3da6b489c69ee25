"""What client quotas cost on the produce path.

One in-process broker (logs in memory), one connection sending acks=1 Produce
requests of one 100-byte record, one at a time, ``--count`` of them per mode:

* ``none``: no quota anywhere (the dispatcher's one truth test);
* ``other``: a quota on another client-id (the per-connection cached lookup, no match);
* ``own``: a producer_byte_rate on this client-id, high enough never to throttle
  (lookup, record and check on every request).

Prints requests per second and microseconds per request, median of ``--repeat`` runs
(the modes interleaved, after a warm-up run), and the cost of ``ClientQuotas.record``
alone. Usage:
``python benchmarks/quota_overhead.py [--count 3000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkapy.testing import Broker  # noqa: E402
from kafkapy.testing.client import KafkaConnection  # noqa: E402
from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasRequest as Alter  # noqa: E402
from kafkapy.wire.messages.create_topics import CreateTopicsRequest  # noqa: E402
from kafkapy.wire.messages.produce import ProduceRequest  # noqa: E402
from kafkapy.wire.records import Record, build_batch  # noqa: E402

TOPIC = "quota-bench"
CLIENT = "bench-producer"


def _alter(bootstrap: str, client_id: str, value: float | None) -> None:
    with KafkaConnection(bootstrap) as conn:
        conn.request(Alter(entries=[Alter.EntryData(
            entity=[Alter.EntityData(entity_type="client-id", entity_name=client_id)],
            ops=[Alter.OpData(key="producer_byte_rate", value=value or 0.0, remove=value is None)])],
            validate_only=False), 1)
    time.sleep(0.2)


def _run(bootstrap: str, count: int) -> float:
    batch = build_batch([Record(0, 0, None, b"v" * 100)], base_timestamp=int(time.time() * 1000))
    request = ProduceRequest(acks=1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        name=TOPIC, partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])])
    with KafkaConnection(bootstrap, client_id=CLIENT) as conn:
        conn.request(request, 9)
        started = time.perf_counter()
        for _ in range(count):
            answer = conn.request(request, 9)
        elapsed = time.perf_counter() - started
    assert answer.throttle_time_ms == 0
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with Broker() as broker:
        bootstrap = broker.bootstrap_servers
        with KafkaConnection(bootstrap) as conn:
            conn.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
                name=TOPIC, num_partitions=1, replication_factor=1)], timeout_ms=10_000), 5)
        _run(bootstrap, args.count)  # warm-up
        modes = {"none": {}, "other": {"someone-else": 1e12}, "own": {CLIENT: 1e12}}
        runs: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(args.repeat):  # modes interleaved, so that load from elsewhere hits all alike
            for mode, quotas in modes.items():
                for client_id in ("someone-else", CLIENT):
                    _alter(bootstrap, client_id, quotas.get(client_id))
                runs[mode].append(_run(bootstrap, args.count))
        results = {mode: statistics.median(times) for mode, times in runs.items()}
        for mode, per_request in results.items():
            print(f"{mode:6s} {1 / per_request:9.0f} req/s  {per_request * 1e6:7.1f} us/request")
    print(f"own - none: {(results['own'] - results['none']) * 1e6:+.1f} us/request")
    _record_alone()


def _record_alone() -> None:
    """ClientQuotas.record with a cached lookup, on a fake broker (no I/O)."""
    from types import SimpleNamespace

    from kafkapy.broker.quotas import QUOTA_APIS, ClientQuotas
    from kafkapy.wire.apis import ApiKey

    quotas = {(("client-id", CLIENT),): {"producer_byte_rate": 1e12}}
    broker = SimpleNamespace(metadata=SimpleNamespace(image=SimpleNamespace(client_quotas=quotas)),
                             clock_ms=lambda: time.time_ns() // 1_000_000)
    manager = ClientQuotas(broker, SimpleNamespace(quota_window_num=11, quota_window_size_seconds=1))
    ctx = SimpleNamespace(conn=SimpleNamespace(state={}), header=SimpleNamespace(client_id=CLIENT))
    n = 100_000
    started = time.perf_counter()
    for _ in range(n):
        manager.record(ctx, ApiKey.PRODUCE, 200)  # type: ignore[arg-type]
    print(f"ClientQuotas.record: {(time.perf_counter() - started) / n * 1e6:.2f} us/call")
    broker.metadata.image.client_quotas = {}
    started = time.perf_counter()
    for _ in range(n):
        _ = ApiKey.PRODUCE in QUOTA_APIS and manager.enabled
    print(f"the dispatcher's test with no quota set: {(time.perf_counter() - started) / n * 1e6:.3f} us/request")


if __name__ == "__main__":
    main()
