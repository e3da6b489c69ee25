"""Fault injection at the server→broker edge: fail, delay or drop requests by intent.

Theory of operation. A :class:`FaultInjector` holds rules and is installed as one of
the dispatcher's request hooks (``dispatcher.hooks``), so every decoded request passes
through :meth:`FaultInjector.hook` before its handler; handlers know nothing of it
(franz-go kfake's ``ControlKey``, at a higher level). Rules are written with Kafka's
names — the API ("Produce", "ListOffsets"), the error ("NOT_LEADER_OR_FOLLOWER"), a
topic and a partition — never raw bytes, so tests keep working when protocol versions
move (raw-message hooks broke when OffsetCommit v10 switched to topic ids).

Rules, checked in the order they were added:

- ``fail``: answer with an error code. For APIs whose request lists topics and
  partitions (Produce, Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords,
  OffsetCommit, TxnOffsetCommit) the matching partitions are taken out of the request,
  the rest is handled for real, and the answer carries the error for the faulted
  partitions in the response's own shape (kfake's ``AddFault``); a Produce to a
  faulted partition appends nothing, a Fetch with a faulted partition answers at
  once. Topic-level APIs (CreateTopics, CreatePartitions) fail per topic,
  FindCoordinator v4+ per key and OffsetFetch v8+ per group. Metadata is answered for
  real with the error set on the matching topics (or partitions). Any other API gets
  its response's top-level ``error_code``.
- ``delay``: sleep before the request is handled. Requests on one connection are
  answered in order, so later requests on it wait too, as on a slow broker.
- ``drop``: close the connection instead of answering.

``count`` is how many matching requests a rule fires for (None: until removed). A
fail rule fires once per request however many of its partitions the request holds.
A request may fire several rules: delays add up, a drop wins over failures, and a
partition takes the error of the first fail rule that matches it.

Task-safety: rules are added and removed from any thread (tests run beside the
broker's trio thread); a lock guards the list and the counters. The hook costs one
attribute check while no rule is set.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.errors import CloseConnection
from kafkapy.wire.apis import ApiKey, all_apis, api_info
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.context import RequestContext


class Action(enum.Enum):
    FAIL = "fail"
    DELAY = "delay"
    DROP = "drop"


@dataclasses.dataclass(eq=False)
class Fault:
    """One rule. ``fired`` counts the requests it acted on; ``remaining`` is how many
    more it will act on (None: no limit)."""

    api_key: ApiKey
    action: Action
    error: ErrorCode | None = None
    delay_ms: float = 0
    topic: str | None = None
    partition: int | None = None
    remaining: int | None = 1
    fired: int = 0

    @property
    def api(self) -> str:
        """Kafka's name of the API, e.g. "Produce"."""
        return api_info(self.api_key).name  # type: ignore[union-attr]

    @property
    def active(self) -> bool:
        return self.remaining is None or self.remaining > 0

    def matches(self, topic: str, partition: int | None) -> bool:
        return ((self.topic is None or self.topic == topic)
                and (self.partition is None or partition is None or self.partition == partition))


@dataclasses.dataclass(frozen=True, slots=True)
class _Shape:
    """Where an API's request lists its topics (or keys) and partitions, and how its
    response answers each one. ``partitions`` None: the API answers per topic."""

    topics: str
    topic_name: str | None  # None: the list items are the names themselves
    partitions: str | None
    partition_index: str | None
    response_topics: str
    response_topic_class: str
    response_topic_name: str
    response_partitions: str | None = None
    response_partition_class: str | None = None
    response_partition_index: str | None = None
    fill: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_SHAPES: dict[int, _Shape] = {
    ApiKey.PRODUCE: _Shape("topic_data", "name", "partition_data", "index",
                           "responses", "TopicProduceResponse", "name",
                           "partition_responses", "PartitionProduceResponse", "index",
                           {"base_offset": -1, "log_append_time_ms": -1, "log_start_offset": -1}),
    ApiKey.FETCH: _Shape("topics", "topic", "partitions", "partition",
                         "responses", "FetchableTopicResponse", "topic",
                         "partitions", "PartitionData", "partition_index",
                         {"high_watermark": -1, "last_stable_offset": -1, "log_start_offset": -1}),
    ApiKey.LIST_OFFSETS: _Shape("topics", "name", "partitions", "partition_index",
                                "topics", "ListOffsetsTopicResponse", "name",
                                "partitions", "ListOffsetsPartitionResponse", "partition_index",
                                {"timestamp": -1, "offset": -1, "leader_epoch": -1}),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: _Shape("topics", "topic", "partitions", "partition",
                                           "topics", "OffsetForLeaderTopicResult", "topic",
                                           "partitions", "EpochEndOffset", "partition",
                                           {"leader_epoch": -1, "end_offset": -1}),
    ApiKey.DELETE_RECORDS: _Shape("topics", "name", "partitions", "partition_index",
                                  "topics", "DeleteRecordsTopicResult", "name",
                                  "partitions", "DeleteRecordsPartitionResult", "partition_index",
                                  {"low_watermark": -1}),
    ApiKey.OFFSET_COMMIT: _Shape("topics", "name", "partitions", "partition_index",
                                 "topics", "OffsetCommitResponseTopic", "name",
                                 "partitions", "OffsetCommitResponsePartition", "partition_index"),
    ApiKey.TXN_OFFSET_COMMIT: _Shape("topics", "name", "partitions", "partition_index",
                                     "topics", "TxnOffsetCommitResponseTopic", "name",
                                     "partitions", "TxnOffsetCommitResponsePartition", "partition_index"),
    ApiKey.CREATE_TOPICS: _Shape("topics", "name", None, None, "topics", "CreatableTopicResult", "name"),
    ApiKey.CREATE_PARTITIONS: _Shape("topics", "name", None, None,
                                     "results", "CreatePartitionsTopicResult", "name"),
    ApiKey.FIND_COORDINATOR: _Shape("coordinator_keys", None, None, None, "coordinators", "Coordinator", "key",
                                    fill={"node_id": -1, "host": "", "port": -1}),
    ApiKey.OFFSET_FETCH: _Shape("groups", "group_id", None, None, "groups", "OffsetFetchResponseGroup", "group_id"),
}
#: APIs whose keys are not topics: a rule with a topic never matches them.
_KEYED_NOT_BY_TOPIC = frozenset({ApiKey.FIND_COORDINATOR, ApiKey.OFFSET_FETCH})


def api_key_by_name(api: str | int) -> ApiKey:
    """The API key for Kafka's API name ("Produce", "ListOffsets"), its enum name
    ("LIST_OFFSETS") or its number.

    Raises:
        ValueError: no API has that name.
    """
    if isinstance(api, int):
        return ApiKey(api)
    for info in all_apis():
        if api in (info.name, info.key.name):
            return info.key
    raise ValueError(f"unknown API {api!r}; use Kafka's names, e.g. 'Produce', 'Fetch', 'Metadata'")


def error_code_by_name(error: str | int) -> ErrorCode:
    """Kafka's error code for its name ("NOT_LEADER_OR_FOLLOWER") or number."""
    if isinstance(error, int):
        return ErrorCode(error)
    try:
        return ErrorCode[error]
    except KeyError:
        raise ValueError(f"unknown Kafka error name {error!r}") from None


@functools.cache
def _response_has_error_code(key: int) -> bool:
    return "error_code" in api_info(key).response_class.__slots__  # type: ignore[union-attr]


class FaultInjector:
    """Fault rules and the request hook that applies them (see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    # --- rules (any thread) -------------------------------------------------------------

    def fail(self, api: str | int, error: str | int, *, count: int | None = 1,
             topic: str | None = None, partition: int | None = None) -> Fault:
        """Answer the next ``count`` matching requests of ``api`` with ``error``.

        Raises:
            ValueError: unknown API or error name, or an API this cannot fail.
        """
        key = api_key_by_name(api)
        if key not in _SHAPES and key != ApiKey.METADATA and not _response_has_error_code(key):
            raise ValueError(f"{api_info(key).name} has no error code to fail with; "  # type: ignore[union-attr]
                             "use drop_connection")
        return self._add(Fault(key, Action.FAIL, error=error_code_by_name(error), topic=topic,
                               partition=partition, remaining=count))

    def delay(self, api: str | int, ms: float, *, count: int | None = None,
              topic: str | None = None, partition: int | None = None) -> Fault:
        """Hold the next ``count`` matching requests of ``api`` for ``ms`` before handling."""
        return self._add(Fault(api_key_by_name(api), Action.DELAY, delay_ms=ms, topic=topic,
                               partition=partition, remaining=count))

    def drop_connection(self, api: str | int, *, count: int | None = 1,
                        topic: str | None = None, partition: int | None = None) -> Fault:
        """Close the connection instead of answering the next ``count`` matching requests."""
        return self._add(Fault(api_key_by_name(api), Action.DROP, topic=topic,
                               partition=partition, remaining=count))

    def remove(self, fault: Fault) -> None:
        """Stop a rule (idempotent)."""
        with self._lock:
            if fault in self._rules:
                self._rules.remove(fault)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        """The rules still active, in order."""
        with self._lock:
            return list(self._rules)

    def _add(self, fault: Fault) -> Fault:
        if fault.partition is not None and fault.topic is None:
            raise ValueError("a partition needs its topic")
        shape = _SHAPES.get(fault.api_key)
        if fault.partition is not None and fault.api_key != ApiKey.METADATA and (
                shape is None or shape.partitions is None):
            raise ValueError(f"{fault.api} requests name no partitions")
        if fault.topic is not None and fault.api_key in _KEYED_NOT_BY_TOPIC:
            raise ValueError(f"{fault.api} requests name no topics")
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("count must be at least 1 (or None for no limit)")
        with self._lock:
            self._rules.append(fault)
        return fault

    # --- the hook (trio thread) ---------------------------------------------------------

    async def hook(self, ctx: RequestContext, request: Any) -> Any:
        """The dispatcher's request hook: None lets the request through to its handler."""
        if not self._rules:
            return None
        key = ctx.header.request_api_key
        items = _request_items(key, request, ctx)
        can_whole = _response_has_error_code(key)
        delay_ms, drop, failed, whole = 0.0, None, {}, None
        with self._lock:
            for rule in self._rules:
                if rule.api_key != key:
                    continue
                if rule.action is Action.FAIL:
                    fired = _claim_failures(rule, items, failed)
                    if not fired and items is None and whole is None and rule.topic is None and can_whole:
                        whole, fired = rule.error, True
                else:
                    fired = items is None and rule.topic is None or any(
                        rule.matches(topic, part) for topic, part, *_ in items or ())
                    if fired and rule.action is Action.DELAY:
                        delay_ms += rule.delay_ms
                    elif fired and drop is None:
                        drop = rule
                if fired:
                    rule.fired += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
            self._rules = [rule for rule in self._rules if rule.active]
        if delay_ms:
            await trio.sleep(delay_ms / 1000)
        if drop is not None:
            raise CloseConnection(f"fault injected: drop the connection on {drop.api}")
        if failed:
            return await _answer_failed(ctx, key, request, failed)
        if whole is not None:
            return await _answer_whole(ctx, key, request, whole)
        return None


#: One item of a request: (topic, partition or None, topic position, partition position).
_Item = tuple[str, "int | None", Any, "int | None"]
#: Failed items by (topic position, partition position); for Metadata, by (topic
#: name, partition index or None).
_Failed = dict[tuple[Any, "int | None"], ErrorCode]


def _request_items(key: int, request: Any, ctx: RequestContext) -> list[_Item] | None:
    """The topics (and partitions) a request names, or None when it names none.

    Positions locate each item in the request; for Metadata, which names no
    partitions, the topic name stands for its position (every topic of the image when
    the request asks for all), and answers are patched by name.
    """
    if key == ApiKey.METADATA:
        image = ctx.broker.image
        names = sorted(image.topics_by_name) if request.topics is None else [
            _topic_name(t, image) for t in request.topics]
        return [(name, None, name, None) for name in names] or None
    shape = _SHAPES.get(key)
    topics = getattr(request, shape.topics, None) if shape is not None else None
    if not topics:
        return None
    image = ctx.broker.image
    out: list[_Item] = []
    for i, t in enumerate(topics):
        name = t if shape.topic_name is None else _topic_name(t, image, shape.topic_name)  # type: ignore[union-attr]
        if shape.partitions is None:  # type: ignore[union-attr]
            out.append((name, None, i, None))
            continue
        for j, p in enumerate(getattr(t, shape.partitions)):  # type: ignore[union-attr]
            out.append((name, getattr(p, shape.partition_index), i, j))  # type: ignore[union-attr, arg-type]
    return out


def _topic_name(topic: Any, image: Any, field: str = "name") -> str:
    """A request topic's name, resolving topic ids (Produce v13, Fetch v13+)."""
    name = getattr(topic, field, None)
    if not name and getattr(topic, "topic_id", None):
        known = image.topics_by_id.get(topic.topic_id)
        return known.name if known is not None else ""
    return name or ""


def _claim_failures(rule: Fault, items: list[_Item] | None, failed: _Failed) -> bool:
    """Mark the items ``rule`` fails that no earlier rule failed; True if any."""
    fired = False
    for topic, part, i, j in items or ():
        where = (i, rule.partition if j is None else j)  # Metadata: the rule's partition
        if rule.matches(topic, part) and where not in failed:
            failed[where] = rule.error  # type: ignore[assignment]
            fired = True
    return fired


async def _run_handler(ctx: RequestContext, key: int, request: Any) -> Any:
    from kafkapy.broker.registry import load_handlers

    handler = load_handlers()[key]
    return await handler.fn(ctx, request) if handler.is_async else handler.fn(ctx, request)


async def _answer_failed(ctx: RequestContext, key: int, request: Any,
                         failed: _Failed) -> Any:
    if key == ApiKey.METADATA:
        return _patch_metadata(await _run_handler(ctx, key, request), failed)
    shape = _SHAPES[key]
    info = api_info(key)
    topics = getattr(request, shape.topics)
    rest = copy.copy(request)
    kept: list[Any] = []
    for i, t in enumerate(topics):
        if shape.partitions is None:
            if (i, None) not in failed:
                kept.append(t)
            continue
        parts = [p for j, p in enumerate(getattr(t, shape.partitions)) if (i, j) not in failed]
        if parts:
            t = copy.copy(t)
            setattr(t, shape.partitions, parts)
            kept.append(t)
    setattr(rest, shape.topics, kept)
    if key == ApiKey.FETCH:
        rest.max_wait_ms = 0  # a partition in error makes Kafka answer a fetch at once
    if key == ApiKey.PRODUCE and request.acks == 0:
        # acks=0 has no answer to carry an error: Kafka closes the connection.
        raise CloseConnection("fault injected: produce with acks=0 to a failed partition")
    response = await _run_handler(ctx, key, rest) if kept else info.response_class()  # type: ignore[union-attr]
    _add_failures(response, shape, info, topics, failed)
    return response


def _add_failures(response: Any, shape: _Shape, info: Any, topics: list[Any],
                  failed: _Failed) -> None:
    """Append an answer for each failed item to ``response``, in the response's shape."""
    topic_cls = getattr(info.response_class, shape.response_topic_class)
    answers = getattr(response, shape.response_topics)
    by_topic: dict[int, Any] = {}
    for (i, j), code in failed.items():
        t = topics[i]
        if shape.partitions is None:
            name = t if shape.topic_name is None else getattr(t, shape.topic_name)
            answers.append(topic_cls(**{shape.response_topic_name: name, "error_code": code}, **shape.fill))
            continue
        entry = by_topic.get(i)
        if entry is None:
            entry = topic_cls(**{shape.response_topic_name: getattr(t, shape.topic_name)})  # type: ignore[arg-type]
            if "topic_id" in topic_cls.__slots__ and hasattr(t, "topic_id"):
                entry.topic_id = t.topic_id
            by_topic[i] = entry
            answers.append(entry)
        part_cls = getattr(info.response_class, shape.response_partition_class)  # type: ignore[arg-type]
        index = getattr(getattr(t, shape.partitions)[j], shape.partition_index)  # type: ignore[arg-type]
        getattr(entry, shape.response_partitions).append(  # type: ignore[arg-type]
            part_cls(**{shape.response_partition_index: index, "error_code": code}, **shape.fill))


def _patch_metadata(response: Any, failed: _Failed) -> Any:
    """Metadata answered for real, with the faulted topics' or partitions' errors set
    (on copies: handlers may share answer objects)."""
    topics = []
    for topic in response.topics:
        code = failed.get((topic.name, None))
        parts = {p: c for (name, p), c in failed.items() if name == topic.name and p is not None}
        if code is not None or parts:
            topic = copy.copy(topic)
            if code is not None:
                topic.error_code = code
            topic.partitions = [_with_error(p, parts[p.partition_index]) if p.partition_index in parts else p
                                for p in topic.partitions]
        topics.append(topic)
    response.topics = topics
    return response


def _with_error(entry: Any, code: ErrorCode) -> Any:
    entry = copy.copy(entry)
    entry.error_code = code
    return entry


async def _answer_whole(ctx: RequestContext, key: int, request: Any, code: ErrorCode) -> Any:
    """A request that names nothing to fail one by one: its top-level error code
    (Metadata v13 is answered for real, with it set)."""
    if key == ApiKey.METADATA:
        response = await _run_handler(ctx, key, request)
    else:
        response = api_info(key).response_class()  # type: ignore[union-attr]
    response.error_code = code
    return response


# --- leadership faults, through the metadata log ------------------------------------------


async def make_leaderless(metadata: Any, topic: str, partition: int) -> None:
    """Leave ``topic``/``partition`` without a leader (a PartitionChangeRecord with
    leader -1, committed through the controller), as after losing every in-sync
    replica: produce and fetch get NOT_LEADER_OR_FOLLOWER, Metadata reports
    LEADER_NOT_AVAILABLE, until :func:`move_leader` elects one again.

    Args:
        metadata: the node's MetadataService (the active controller).
    """
    from kafkapy.kraft.metadata.image import NO_LEADER

    await _change_leader(metadata, topic, partition, lambda part: NO_LEADER)


async def move_leader(metadata: Any, topic: str, partition: int, to: int | None = None) -> int:
    """Give ``topic``/``partition`` a new leader and a new leader epoch.

    Args:
        to: the new leader, an in-sync replica on an active broker; by default the
            next such replica after the current leader (the same one again, with a
            bumped epoch, when it is the only one), or the first when there is none.

    Returns:
        The new leader's id.
    Raises:
        ValueError: unknown partition, or ``to`` is not an active in-sync replica.
    """

    def choose(part: Any) -> int:
        brokers = metadata.image.brokers
        eligible = [r for r in part.isr if r in brokers and brokers[r].active]
        if to is not None:
            if to not in eligible:
                raise ValueError(f"broker {to} is not an active in-sync replica of {topic}-{partition} "
                                 f"(ISR {list(part.isr)})")
            return to
        if not eligible:
            raise ValueError(f"{topic}-{partition} has no active in-sync replica to lead")
        if part.leader in eligible:
            return eligible[(eligible.index(part.leader) + 1) % len(eligible)]
        return eligible[0]

    return await _change_leader(metadata, topic, partition, choose)


async def _change_leader(metadata: Any, topic: str, partition: int, choose: Any) -> int:
    from kafkapy.kraft.metadata.records import PartitionChangeRecord

    image = metadata.image
    t = image.topic(topic)
    part = None if t is None else t.partitions.get(partition)
    if part is None:
        raise ValueError(f"unknown partition {topic}-{partition}")
    leader = choose(part)
    await metadata.submit([PartitionChangeRecord(topic_id=t.id, partition_id=partition, leader=leader)])
    return leader
