"""The coordinator runtime on a real broker: a counter shard on a two-partition topic.

Each write's records land in the partition log, are replayed into the shard before the
next operation runs, and answer once committed; a timer's operation writes on its own;
a restarted broker rebuilds the shard from the log.
"""

from __future__ import annotations

import tempfile
from typing import Any

import trio

from kafkapy.broker.coordinator.runtime import CoordinatorRuntime
from kafkapy.broker.coordinator.shard import CoordinatorError, CoordinatorResult, ShardContext
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode

TOPIC = "runtime-counters"


class CounterShard:
    """key -> count, one record per increment; a tombstone resets."""

    def __init__(self, context: ShardContext) -> None:
        self.context = context
        self.counts: dict[str, int] = {}
        self.replayed: list[int] = []
        self.loaded = False

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        self.replayed.append(offset)
        if value is None:
            self.counts.pop(key.decode(), None)
        else:
            self.counts[key.decode()] = int(value)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        pass

    def on_loaded(self) -> None:
        self.loaded = True

    def on_unloaded(self) -> None:
        self.loaded = False


def incr(key: str) -> Any:
    def op(shard: CounterShard) -> CoordinatorResult[int]:
        if key == "refused":
            raise CoordinatorError(ErrorCode.INVALID_REQUEST)
        count = shard.counts.get(key, 0) + 1
        return CoordinatorResult([(key.encode(), str(count).encode())], count)
    return op


def _start(broker: Broker) -> CoordinatorRuntime[CounterShard]:
    runtime: CoordinatorRuntime[CounterShard] = CoordinatorRuntime(
        broker.core, TOPIC, 2, CounterShard, write_timeout_ms=5000)

    def spawn() -> None:
        trio.lowlevel.spawn_system_task(runtime.run)

    broker.call(spawn)
    return runtime


def _wait_loaded(broker: Broker, runtime: CoordinatorRuntime[CounterShard]) -> None:
    for _ in range(100):
        if broker.call(lambda: len(runtime.loaded_partitions())) == 2:
            return
        broker.call(trio.sleep, 0.05)
    raise AssertionError("partitions never loaded")


def test_writes_replay_and_answer_after_commit() -> None:
    with Broker() as broker:
        broker.create_topics(TOPIC, partitions=2)
        runtime = _start(broker)
        _wait_loaded(broker, runtime)
        p = runtime.partition_for("a")

        async def two_writes() -> tuple[int, int]:
            first = await runtime.write(p, incr("a"))
            second = await runtime.write(p, incr("a"))
            return first, second

        assert broker.call(two_writes) == (1, 2)
        shard = broker.call(lambda: runtime.shard(p))
        assert shard is not None and shard.counts == {"a": 2} and shard.loaded
        # The records are in the partition log, readable by any consumer of it.
        values = [r.value for r in broker.records(TOPIC, p)]
        assert values == [b"1", b"2"]

        async def refused() -> ErrorCode:
            try:
                await runtime.write(p, incr("refused"))
            except CoordinatorError as exc:
                return exc.code
            return ErrorCode.NONE

        assert broker.call(refused) == ErrorCode.INVALID_REQUEST
        other = 1 - p
        assert broker.call(lambda: runtime.coordinator_error(other)) is None
        assert broker.call(lambda: runtime.coordinator_error(7)) == ErrorCode.COORDINATOR_NOT_AVAILABLE


def test_timer_operation_writes_on_its_own() -> None:
    with Broker() as broker:
        broker.create_topics(TOPIC, partitions=2)
        runtime = _start(broker)
        _wait_loaded(broker, runtime)
        p = runtime.partition_for("t")

        def schedule() -> None:
            shard = runtime.shard(p)
            assert shard is not None
            shard.context.timer.schedule("tick", 50, incr("t"))
            shard.context.timer.schedule("cancelled", 50, incr("never"))
            shard.context.timer.cancel("cancelled")

        broker.call(schedule)
        for _ in range(100):
            counts = broker.call(lambda: dict(runtime.shard(p).counts))  # type: ignore[union-attr]
            if counts:
                break
            broker.call(trio.sleep, 0.05)
        assert counts == {"t": 1}


def test_restart_rebuilds_the_shard_from_the_log() -> None:
    with tempfile.TemporaryDirectory() as data:
        config = {"log.dirs": data}
        with Broker(config, memory=False) as broker:
            broker.create_topics(TOPIC, partitions=2)
            runtime = _start(broker)
            _wait_loaded(broker, runtime)
            p = runtime.partition_for("k")

            async def three() -> int:
                for _ in range(3):
                    last = await runtime.write(p, incr("k"))
                return last

            assert broker.call(three) == 3
        with Broker(config, memory=False) as broker:
            runtime = _start(broker)
            _wait_loaded(broker, runtime)
            shard = broker.call(lambda: runtime.shard(p))
            assert shard is not None and shard.counts == {"k": 3} and len(shard.replayed) == 3

            async def once_more() -> int:
                return await runtime.write(p, incr("k"))

            assert broker.call(once_more) == 4
