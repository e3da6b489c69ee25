"""Tiered storage (KIP-405): copy throughput to the remote tier, and consume throughput
from it next to consuming the same records from the local log.

For each tier (``local``: a directory; ``s3``: moto's S3 server on 127.0.0.1, when
``moto_server`` is installed), one in-process broker on disk:

  - produce ``--mib`` MiB of 1 KiB records into 1 MiB segments with copying held back
    (``remote.copy.lag.ms`` one day, no local retention), then let it go
    (``remote.copy.lag.ms=0``, ``local.retention.bytes`` 2 MiB): **copy** is the MiB/s
    from that change until every closed segment is in the remote tier;
  - **remote read**: one confluent-kafka consumer from offset 0 up to the local log
    start, every byte from the remote tier;
  - **local read**: the same records from a topic without tiering on the same broker.

Figures are for this machine and its load; nothing here asserts a timing.

Run: .venv/bin/python benchmarks/tiered.py [--mib 32] [--tiers local,s3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafkapy.config import BrokerConfig  # noqa: E402
from kafkapy.testing import Broker  # noqa: E402
from tests.tiered.clients import EARLIEST_LOCAL, LATEST_TIERED, list_offset  # noqa: E402
from tests.tiered.conftest import S3Server, local_tier, moto_binary, tiered_properties  # noqa: E402

MIB = 1024 * 1024
RECORD = 1024


def _produce(bootstrap: str, topic: str, mib: int) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 256 * 1024,
                         "acks": "all", "queue.buffering.max.kbytes": 262144})
    count = mib * MIB // RECORD
    value = b"v" * RECORD
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value=value, partition=0)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(300) == 0
    return count


def _consume(bootstrap: str, topic: str, until: int) -> tuple[int, float]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "error",
                         "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 4 * MIB})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = size = 0
    start = time.perf_counter()
    deadline = time.monotonic() + 600
    while got < until and time.monotonic() < deadline:
        for message in consumer.consume(1000, 1.0):
            if message.error():
                raise RuntimeError(str(message.error()))
            got += 1
            size += len(message.value())
    elapsed = time.perf_counter() - start
    consumer.close()
    if got < until:
        raise RuntimeError(f"read {got} of {until} records")
    return size, elapsed


def _wait(condition: object, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def run_tier(name: str, tier: dict[str, str], data: Path, mib: int) -> None:
    properties = tiered_properties(data, tier, **{BrokerConfig.field_name("remote_log_manager_task_interval_ms"): "100"})
    with Broker(properties, memory=False) as broker:
        bootstrap = broker.bootstrap_servers
        admin = AdminClient({"bootstrap.servers": bootstrap})
        segment = {"internal.segment.bytes": str(MIB)}
        held = {**segment, "remote.storage.enable": "true", "remote.copy.lag.ms": str(86_400_000)}
        for future in admin.create_topics([NewTopic("tiered", 1, 1, config=held),
                                           NewTopic("local", 1, 1, config=segment)]).values():
            future.result(30)
        count = _produce(bootstrap, "tiered", mib)
        _produce(bootstrap, "local", mib)
        partition = broker.core.replicas.get("tiered", 0)
        last_closed = partition.log.segments[-1].base_offset - 1
        manager = broker.core.remote_logs
        copied_before = manager.bytes_copied
        resource = ConfigResource("topic", "tiered", incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in (("remote.copy.lag.ms", "0"), ("local.retention.bytes", str(2 * MIB)))])
        start = time.perf_counter()
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)
        _wait(lambda: list_offset(bootstrap, "tiered", LATEST_TIERED)[1] >= last_closed)
        copy_s = time.perf_counter() - start
        copied = manager.bytes_copied - copied_before
        _wait(lambda: list_offset(bootstrap, "tiered", EARLIEST_LOCAL)[1] > count // 2)
        local_start = list_offset(bootstrap, "tiered", EARLIEST_LOCAL)[1]
        remote_bytes, remote_s = _consume(bootstrap, "tiered", local_start)
        local_bytes, local_s = _consume(bootstrap, "local", local_start)
        print(f"{name:6} copy {copied / MIB:7.1f} MiB in {copy_s:6.2f} s = {copied / MIB / copy_s:7.1f} MiB/s | "
              f"remote read {remote_bytes / MIB:7.1f} MiB at {remote_bytes / MIB / remote_s:7.1f} MiB/s | "
              f"local read {local_bytes / MIB / local_s:7.1f} MiB/s ({local_start} records of {count})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=32, help="MiB produced per topic")
    parser.add_argument("--tiers", default="local,s3")
    args = parser.parse_args()
    tiers = args.tiers.split(",")
    with tempfile.TemporaryDirectory(prefix="kafkapy-tiered-bench-") as tmp:
        root = Path(tmp)
        if "local" in tiers:
            run_tier("local", local_tier(root / "remote"), root / "data-local", args.mib)
        if "s3" in tiers:
            binary = moto_binary()
            if binary is None:
                print("s3     skipped: moto_server is not installed (compat_tests/install.sh)")
                return
            server = S3Server(binary, root / "moto.log")
            server.start()
            try:
                run_tier("s3", server.tier(), root / "data-s3", args.mib)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
