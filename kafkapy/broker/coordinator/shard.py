"""What a coordinator shard is, and what its operations return (Kafka's
``CoordinatorShard``, ``CoordinatorResult`` and ``CoordinatorTimer``).

A shard is the state of one coordinator partition (one partition of
``__consumer_offsets``, ``__share_group_state`` or ``__transaction_state``). It is a
plain object with no I/O:

* :meth:`CoordinatorShard.replay` applies one record of its partition. It is the only
  way its durable state changes, whether the record was read back while loading or
  just written by an operation, so a shard rebuilt from the log is the shard that
  wrote it (Kafka's ``GroupCoordinatorShard.replay``).
* An operation is a function ``op(shard) -> CoordinatorResult``: it reads the shard,
  decides, and returns the records to write and the response to give once they are
  committed. It does not change durable state itself; the runtime replays its
  records right after appending them. An operation that refuses raises
  :class:`CoordinatorError` with the error code to answer.
* Timers belong to the shard (:class:`ShardTimer`): a timer's callback is an
  operation too, run by the runtime when due; its records are written and replayed,
  and nobody waits for them. Unloading the shard cancels them all.

Transient state (who is waiting, what a session deadline is) lives outside replay
and is the shard's own business; it is lost on unload, as in Kafka.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.config import BrokerConfig
    from kafkapy.kraft.metadata.image import MetadataImage

T = TypeVar("T")
#: A record as coordinators write it: key bytes and value bytes (None: a tombstone).
KeyValue = tuple[bytes, "bytes | None"]


class CoordinatorError(Exception):
    """An operation refused: answer ``code`` (and ``message``) without writing anything."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        super().__init__(message or code.name)
        self.code = code
        self.message = message


@dataclass(slots=True)
class CoordinatorResult(Generic[T]):
    """What an operation decided: records to write, then the response.

    Attributes:
        records: written in one batch, replayed into the shard, then committed before
            ``response`` is given; empty means answer at once.
        response: the answer once the records are committed.
        producer_id, producer_epoch: a transactional write (TxnOffsetCommit); -1 for none.
    """

    records: list[KeyValue]
    response: T
    producer_id: int = -1
    producer_epoch: int = -1


class ShardTimer(Protocol):
    """Keyed deadlines of one shard; a due deadline runs its operation on the shard."""

    def schedule(self, key: Hashable, delay_ms: int, op: Callable[[Any], CoordinatorResult[Any] | None]) -> None: ...

    def cancel(self, key: Hashable) -> None: ...

    def is_scheduled(self, key: Hashable) -> bool: ...


@dataclass(slots=True)
class ShardContext:
    """What a shard may look at: its partition, the clock, the image, the config, its timer.

    Attributes:
        partition: the coordinator partition index.
        leader_epoch: the leader epoch it was loaded in.
        timer: the shard's timers (cancelled when it is unloaded).
        now_ms: wall-clock milliseconds.
        image: the latest metadata image.
        config: the node's configuration.
    """

    partition: int
    leader_epoch: int
    timer: ShardTimer
    now_ms: Callable[[], int]
    image: Callable[[], "MetadataImage"]
    config: "BrokerConfig"
    extra: dict[str, Any] = field(default_factory=dict)


class CoordinatorShard(Protocol):
    """One coordinator partition's state machine (see the module doc)."""

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        """Apply one record; ``producer_id`` is -1 outside transactions."""

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        """A transaction's COMMIT or ABORT marker in this partition."""

    def on_loaded(self) -> None:
        """The log is replayed: start timers for what was loaded."""

    def on_unloaded(self) -> None:
        """The partition moved away: answer waiters, forget transient state."""
