"""A shard made of parts: Kafka's ``GroupCoordinatorShard`` holds one manager per group
kind over one ``__consumer_offsets`` partition, and each kind's code sees only its own.

* :class:`PartTimer` is a part's :class:`~kafkapy.broker.coordinator.shard.ShardTimer`:
  its keys live on the whole shard's timer, and a due operation runs on the part.
* :class:`PartView` is the runtime as a part's service sees it: the same partitions,
  coordinator errors, reads and writes, with operations taking the part.

Task-safety: trio thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from kafkapy.broker.coordinator.shard import CoordinatorResult, ShardTimer
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.coordinator.runtime import CoordinatorRuntime

P = TypeVar("P")
T = TypeVar("T")


class PartTimer:
    """The timer of one part of a shard; ``part`` finds the part in the whole shard."""

    def __init__(self, timer: ShardTimer, part: Callable[[Any], Any]) -> None:
        self._timer = timer
        self._part = part

    def schedule(self, key: Hashable, delay_ms: int, op: Callable[[Any], CoordinatorResult[Any] | None]) -> None:
        part = self._part
        self._timer.schedule(key, delay_ms, lambda shard: op(part(shard)))

    def cancel(self, key: Hashable) -> None:
        self._timer.cancel(key)

    def is_scheduled(self, key: Hashable) -> bool:
        return self._timer.is_scheduled(key)


class PartView(Generic[P]):
    """``runtime``'s shards seen through ``part`` (see the module doc)."""

    def __init__(self, runtime: CoordinatorRuntime[Any], part: Callable[[Any], P]) -> None:
        self.runtime = runtime
        self._part = part

    def partition_for(self, key: str) -> int:
        return self.runtime.partition_for(key)

    def coordinator_error(self, p: int) -> ErrorCode | None:
        return self.runtime.coordinator_error(p)

    def shard(self, p: int) -> P | None:
        shard = self.runtime.shard(p)
        return None if shard is None else self._part(shard)

    def shards(self) -> list[P]:
        return [self._part(shard) for shard in self.runtime.shards()]

    def read(self, p: int, fn: Callable[[P], T]) -> T:
        part = self._part
        return self.runtime.read(p, lambda shard: fn(part(shard)))

    async def write(self, p: int, op: Callable[[P], CoordinatorResult[T]]) -> T:
        part = self._part
        return await self.runtime.write(p, lambda shard: op(part(shard)))
