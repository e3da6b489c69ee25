"""The handler table: which API keys and versions this broker implements.

Each handler module registers its function with ``@handles(ApiKey.X, versions=(lo, hi))``.
ApiVersions is answered from this table and the dispatcher checks requests against
it, so what is advertised cannot drift from what is implemented (kfake's ``regKey``).

The table starts as :data:`API_TABLE`: each API's module and versions, with a stand-in
that imports the module on the API's first request (importing every handler and the
coordinators they use is a third of a node's start, issue 18). The module's
``@handles`` then replaces the stand-in, and refuses versions that differ from the
table's, so that ApiVersions answered before the import says what the handler serves.

A handler is ``handle_x(ctx: RequestContext, request) -> response``; it is ``async``
only when it waits (acks=all produce, long-poll fetch, controller round trips).
Per-partition problems are error codes in the response; raising
:class:`~kafkapy.broker.errors.CloseConnection` (or any exception) closes the
connection. ``None`` means no response is sent (acks=0 produce).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

from kafkapy.wire.apis import ApiKey


class Handler(NamedTuple):
    """One registered API: its key, the version range served and the function."""

    api_key: int
    min_version: int
    max_version: int
    fn: Callable[..., Any]
    is_async: bool
    #: The minimum ApiVersions reports; below ``min_version`` only where Kafka 4.x
    #: does the same for old clients' feature detection (Produce: KAFKA-18659).
    advertised_min: int


#: API key -> (module of kafkapy.broker.handlers, versions served[, advertised minimum]).
API_TABLE: dict[int, tuple[Any, ...]] = {
    ApiKey.PRODUCE: ("produce", (3, 13), 0),
    ApiKey.FETCH: ("fetch", (4, 18)),
    ApiKey.LIST_OFFSETS: ("offsets", (1, 11)),
    ApiKey.METADATA: ("metadata", (0, 13)),
    ApiKey.OFFSET_COMMIT: ("offset_commit", (2, 10)),
    ApiKey.OFFSET_FETCH: ("offset_commit", (1, 10)),
    ApiKey.FIND_COORDINATOR: ("find_coordinator", (0, 6)),
    ApiKey.JOIN_GROUP: ("groups", (0, 9)),
    ApiKey.HEARTBEAT: ("groups", (0, 4)),
    ApiKey.LEAVE_GROUP: ("groups", (0, 5)),
    ApiKey.SYNC_GROUP: ("groups", (0, 5)),
    ApiKey.DESCRIBE_GROUPS: ("groups", (0, 6)),
    ApiKey.LIST_GROUPS: ("groups", (0, 5)),
    ApiKey.SASL_HANDSHAKE: ("sasl", (0, 1)),
    ApiKey.API_VERSIONS: ("api_versions", (0, 5)),
    ApiKey.CREATE_TOPICS: ("topics", (2, 7)),
    ApiKey.DELETE_TOPICS: ("topics", (1, 6)),
    ApiKey.DELETE_RECORDS: ("log_admin", (0, 2)),
    ApiKey.INIT_PRODUCER_ID: ("producer_id", (0, 5)),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: ("offsets", (2, 4)),
    ApiKey.ADD_PARTITIONS_TO_TXN: ("txn", (0, 5)),
    ApiKey.ADD_OFFSETS_TO_TXN: ("txn", (0, 4)),
    ApiKey.END_TXN: ("txn", (0, 5)),
    ApiKey.WRITE_TXN_MARKERS: ("txn", (1, 2)),
    ApiKey.TXN_OFFSET_COMMIT: ("txn", (0, 6)),
    ApiKey.DESCRIBE_ACLS: ("acls", (1, 3)),
    ApiKey.CREATE_ACLS: ("acls", (1, 3)),
    ApiKey.DELETE_ACLS: ("acls", (1, 3)),
    ApiKey.DESCRIBE_CONFIGS: ("configs", (1, 4)),
    ApiKey.ALTER_CONFIGS: ("configs", (0, 2)),
    ApiKey.ALTER_REPLICA_LOG_DIRS: ("replica_log_dirs", (1, 2)),
    ApiKey.DESCRIBE_LOG_DIRS: ("log_admin", (1, 5)),
    ApiKey.SASL_AUTHENTICATE: ("sasl", (0, 2)),
    ApiKey.CREATE_PARTITIONS: ("topics", (0, 3)),
    ApiKey.CREATE_DELEGATION_TOKEN: ("delegation_tokens", (1, 3)),
    ApiKey.RENEW_DELEGATION_TOKEN: ("delegation_tokens", (1, 2)),
    ApiKey.EXPIRE_DELEGATION_TOKEN: ("delegation_tokens", (1, 2)),
    ApiKey.DESCRIBE_DELEGATION_TOKEN: ("delegation_tokens", (1, 3)),
    ApiKey.DELETE_GROUPS: ("groups", (0, 3)),
    ApiKey.ELECT_LEADERS: ("elect_leaders", (0, 2)),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: ("configs", (0, 1)),
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: ("reassignments", (0, 1)),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: ("reassignments", (0, 0)),
    ApiKey.OFFSET_DELETE: ("offset_commit", (0, 0)),
    ApiKey.DESCRIBE_CLIENT_QUOTAS: ("client_quotas", (0, 1)),
    ApiKey.ALTER_CLIENT_QUOTAS: ("client_quotas", (0, 1)),
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: ("user_scram_credentials", (0, 0)),
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: ("user_scram_credentials", (0, 0)),
    ApiKey.DESCRIBE_QUORUM: ("raft", (0, 2)),
    ApiKey.UPDATE_FEATURES: ("features", (0, 2)),
    ApiKey.DESCRIBE_CLUSTER: ("metadata", (0, 2)),
    ApiKey.DESCRIBE_PRODUCERS: ("producers", (0, 0)),
    ApiKey.UNREGISTER_BROKER: ("unregister", (0, 0)),
    ApiKey.DESCRIBE_TRANSACTIONS: ("txn", (0, 0)),
    ApiKey.LIST_TRANSACTIONS: ("txn", (0, 2)),
    ApiKey.CONSUMER_GROUP_HEARTBEAT: ("groups", (0, 1)),
    ApiKey.CONSUMER_GROUP_DESCRIBE: ("groups", (0, 1)),
    ApiKey.LIST_CONFIG_RESOURCES: ("config_resources", (0, 1)),
    ApiKey.DESCRIBE_TOPIC_PARTITIONS: ("metadata", (0, 0)),
    ApiKey.SHARE_GROUP_HEARTBEAT: ("share_groups", (1, 1)),
    ApiKey.SHARE_GROUP_DESCRIBE: ("share_groups", (1, 1)),
    ApiKey.SHARE_FETCH: ("share_fetch", (1, 2)),
    ApiKey.SHARE_ACKNOWLEDGE: ("share_fetch", (1, 2)),
    ApiKey.ADD_RAFT_VOTER: ("raft", (0, 1)),
    ApiKey.REMOVE_RAFT_VOTER: ("raft", (0, 0)),
    ApiKey.INITIALIZE_SHARE_GROUP_STATE: ("share_state", (0, 0)),
    ApiKey.READ_SHARE_GROUP_STATE: ("share_state", (0, 0)),
    ApiKey.WRITE_SHARE_GROUP_STATE: ("share_state", (0, 1)),
    ApiKey.DELETE_SHARE_GROUP_STATE: ("share_state", (0, 0)),
    ApiKey.READ_SHARE_GROUP_STATE_SUMMARY: ("share_state", (0, 1)),
    ApiKey.STREAMS_GROUP_HEARTBEAT: ("streams_groups", (0, 1)),
    ApiKey.STREAMS_GROUP_DESCRIBE: ("streams_groups", (0, 1)),
    ApiKey.STREAMS_GROUP_TOPOLOGY_DESCRIPTION_UPDATE: ("streams_groups", (0, 0)),
    ApiKey.DESCRIBE_SHARE_GROUP_OFFSETS: ("share_offsets", (0, 1)),
    ApiKey.ALTER_SHARE_GROUP_OFFSETS: ("share_offsets", (0, 0)),
    ApiKey.DELETE_SHARE_GROUP_OFFSETS: ("share_offsets", (0, 0)),
    ApiKey.UNREGISTER_CONTROLLER: ("unregister", (0, 0)),
}


def _stand_in(api_key: int, module: str, versions: tuple[int, int], advertised_min: int | None = None) -> Handler:
    """The table's entry for ``api_key`` until its module is imported."""

    async def import_and_handle(ctx: Any, request: Any) -> Any:
        importlib.import_module(f"kafkapy.broker.handlers.{module}")
        handler = HANDLERS[api_key]
        if handler.fn is import_and_handle:
            raise RuntimeError(f"kafkapy.broker.handlers.{module} registers no handler of API key {api_key}")
        return await handler.fn(ctx, request) if handler.is_async else handler.fn(ctx, request)

    lo, hi = versions
    return Handler(api_key, lo, hi, import_and_handle, True, lo if advertised_min is None else min(lo, advertised_min))


HANDLERS: dict[int, Handler] = {int(key): _stand_in(int(key), *entry) for key, entry in API_TABLE.items()}
_REGISTERED: set[int] = set()


def handles(
    api_key: int, *, versions: tuple[int, int], advertised_min: int | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the handler of ``api_key`` for ``versions``.

    ``advertised_min`` lowers only the minimum ApiVersions reports; requests below
    ``versions[0]`` still close the connection.

    Raises:
        ValueError: if the key already has a handler or the range is empty.
    """
    lo, hi = versions
    if lo > hi:
        raise ValueError(f"empty version range {versions} for API key {api_key}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = int(api_key)
        if key in _REGISTERED:
            raise ValueError(f"API key {api_key} already has a handler: {HANDLERS[key].fn}")
        shown = lo if advertised_min is None else min(lo, advertised_min)
        handler = Handler(key, lo, hi, fn, inspect.iscoroutinefunction(fn), shown)
        listed = HANDLERS.get(key)
        entry = API_TABLE.get(key, ("",))
        if listed is None or (listed.min_version, listed.max_version, listed.advertised_min) != (lo, hi, shown) \
                or fn.__module__ != f"kafkapy.broker.handlers.{entry[0]}":
            raise ValueError(f"{fn.__module__}.{fn.__name__} serves API key {api_key} versions {lo}-{hi} "
                             f"(advertised from {shown}); kafkapy.broker.registry.API_TABLE must say the same")
        HANDLERS[key] = handler
        _REGISTERED.add(key)
        return fn

    return register


def load_handlers() -> dict[int, Handler]:
    """The handler table: every API, each module imported on its first request."""
    return HANDLERS


def import_handlers() -> dict[int, Handler]:
    """Import every handler module now (their registrations checked against the
    table), and return the table."""
    for module, *_ in API_TABLE.values():
        importlib.import_module(f"kafkapy.broker.handlers.{module}")
    return HANDLERS
