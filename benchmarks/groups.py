"""How long a new consumer group takes to start consuming.

A new group of two confluent-kafka consumers (librdkafka's defaults but for
``group.protocol``, and no auto-commit: a member that briefly owned both partitions
must not commit the other member's record away) subscribes to a topic of two
partitions holding a record each. Measured: from the broker receiving the group's
first JoinGroup (classic) or ConsumerGroupHeartbeat (KIP-848), seen by a request
hook on the broker, to both members having received a record (each owns one
partition by then).

Three setups:
  - classic protocol, ``group.initial.rebalance.delay.ms=3000`` (Kafka's default):
    the first rebalance waits for more members, and waits again while they come;
  - classic protocol, ``group.initial.rebalance.delay.ms=0`` (Kafka's development
    configs and kafkapy's quick start);
  - ``group.protocol=consumer`` (KIP-848), ``group.consumer.heartbeat.interval.ms``
    at its default of 5000: the second member gets its partition once the first
    has revoked it, which both learn of at their next heartbeat.

Run: .venv/bin/python benchmarks/groups.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapy.testing import Broker
from kafkapy.wire.apis import ApiKey

_FIRST_GROUP_REQUEST = {int(ApiKey.JOIN_GROUP), int(ApiKey.CONSUMER_GROUP_HEARTBEAT)}


class FirstJoin:
    """A request hook remembering when a group's first JoinGroup/ConsumerGroupHeartbeat came."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def __call__(self, ctx: Any, request: Any) -> None:
        """A dispatcher request hook that lets every request through (answers None)."""
        if ctx.header.request_api_key in _FIRST_GROUP_REQUEST:
            self.at.setdefault(request.group_id, time.monotonic())


def one_run(broker: Broker, first_join: FirstJoin, protocol: str) -> float:
    """Seconds from the first join to both members holding a record."""
    bootstrap = broker.bootstrap_servers
    topic, group = f"bench-{uuid.uuid4().hex[:8]}", f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap})
    delivered: list[Any] = []
    for p in (0, 1):
        producer.produce(topic, value=b"x", partition=p, on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(30)
    if delivered != [None, None]:
        raise RuntimeError(f"produce failed: {delivered}")
    members = [Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": protocol,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False}) for _ in range(2)]
    got = [False, False]
    try:
        for c in members:
            c.subscribe([topic])
        deadline = time.monotonic() + 120
        while not all(got) and time.monotonic() < deadline:
            for i, c in enumerate(members):
                m = c.poll(0.01)
                if m is not None and m.error() is None:
                    got[i] = True
        done = time.monotonic()
        if not all(got):
            raise RuntimeError(f"{protocol}: the group did not start within 120 s: {got} "
                               f"{[c.assignment() for c in members]} {broker.records(topic)}")
        return done - first_join.at[group]
    finally:
        for c in members:
            c.close()


def run_setup(label: str, config: dict[str, str], protocol: str, runs: int) -> None:
    first_join = FirstJoin()
    with Broker(config) as broker:
        assert broker.info is not None
        broker.info.dispatcher.hooks.append(first_join)
        times = [one_run(broker, first_join, protocol) for _ in range(runs)]
    print(f"{label:<58} median {statistics.median(times):6.2f} s   "
          f"min {min(times):6.2f} s   max {max(times):6.2f} s   ({runs} runs)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("New 2-member group, first JoinGroup/ConsumerGroupHeartbeat -> both members fetched a record "
          "(confluent-kafka defaults)")
    run_setup("classic, group.initial.rebalance.delay.ms=3000 (Kafka default)",
              {"group.initial.rebalance.delay.ms": "3000"}, "classic", args.runs)
    run_setup("classic, group.initial.rebalance.delay.ms=0",
              {"group.initial.rebalance.delay.ms": "0"}, "classic", args.runs)
    run_setup("group.protocol=consumer (KIP-848), heartbeat interval 5000 ms", {}, "consumer", args.runs)


if __name__ == "__main__":
    main()
