"""Reference oracle: one request corpus sent to Apache Kafka and to the broker under test.

Each step sends a raw request (encoded with kafka-python's schema-driven protocol
classes, the same upstream JSON schemas Kafka is generated from) over its own TCP
connection, decodes the response, and normalises what legitimately differs between two
brokers (throttle time, cluster and topic ids, host/port, error message wording). The
normalised responses must be equal; a difference is either fixed in the broker or listed
with its reason in oracle_differences.toml (then reported as known, not failed).

    python -m compat_tests.oracle --start-reference --start-kafkapy
    python -m compat_tests.oracle --start-reference --target-bootstrap HOST:PORT
    python -m compat_tests.oracle --start-reference --target-reference   # validates the oracle itself
    python -m compat_tests.oracle --start-reference --start-kafkapy --secure

``--secure`` plays a second corpus (``SECURE_CORPUS``) against both brokers started with
the same security settings (``secure_properties``): a SASL_PLAINTEXT listener with PLAIN
and SCRAM-SHA-256 users, Kafka's StandardAuthorizer, ``super.users`` = admin and the
PLAINTEXT listener's ANONYMOUS, ``allow.everyone.if.no.acl.found`` left false. It
compares SaslHandshake, SaslAuthenticate (success, a wrong password, an unknown SCRAM
user, out of order), a request before authentication, CreateAcls/DescribeAcls/DeleteAcls
of a super user and of a user without rights, and an authenticated user's unauthorized
Metadata, Produce and CreateTopics. A step may log in first (``login``) or send other
requests first (``prelude``) on its connection; their answers are compared too, and a
connection the broker closes is an answer of its own.

``--share-streams`` plays ``compat_tests.oracle_share_streams.CORPUS`` (share groups,
share sessions and share state, streams groups, their group configs) against Apache
Kafka 4.4.0 and kafkapy started with the same settings; kafka-python has no classes for
these APIs, so their requests are kafkapy's generated messages (``native_requests``).
A step may use what the broker answered before (``keep``: topic ids, member epochs) and
the broker's one kept connection (``kept_connection``: a share session is the
connection's).

    python -m compat_tests.oracle --start-reference --start-kafkapy --share-streams
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shlex
import socket
import struct
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka.protocol.admin import (
    CreateAclsRequest,
    CreateTopicsRequest,
    DeleteAclsRequest,
    DeleteTopicsRequest,
    DescribeAclsRequest,
    DescribeClusterRequest,
    DescribeConfigsRequest,
    DescribeGroupsRequest,
    IncrementalAlterConfigsRequest,
    ListGroupsRequest,
)
from kafka.protocol.consumer import (
    FetchRequest,
    JoinGroupRequest,
    ListOffsetsRequest,
    OffsetFetchRequest,
    OffsetForLeaderEpochRequest,
)
from kafka.protocol.metadata import (
    ApiVersionsRequest,
    FindCoordinatorRequest,
    MetadataRequest,
)
from kafka.protocol.producer import InitProducerIdRequest, ProduceRequest
from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest
from kafka.record.default_records import DefaultRecordBatchBuilder

from compat_tests import brokers
from compat_tests.native_requests import Native
from kafkapy.wire.errors import WireError

KNOWN = Path(__file__).with_name("oracle_differences.toml")
TOPIC = "oracle-topic"
GROUP = "oracle-group"
COMPACTED = "oracle-compacted"
BASE_TS = 1_700_000_000_000
_correlation = itertools.count(1)


def record_batch(keyless: tuple[int, ...] = ()) -> bytes:
    """Three records in one uncompressed v2 batch with fixed timestamps (deterministic
    bytes); the records at the ``keyless`` indexes have a null key."""
    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
    for i in range(3):
        builder.append(i, BASE_TS + 1000 * i, None if i in keyless else f"k{i}".encode(), f"v{i}".encode(),
                       [("h", b"x")])
    return bytes(builder.build())


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def build(cls: Any, data: dict, version: int | None = None) -> Any:
    """A request (or nested struct) from plain dicts, using the schema's nested classes."""
    schema = cls.json if version is not None else cls._struct._json
    fields = {_snake(f["name"]): f for f in schema["fields"]}
    kwargs = {}
    for key, value in data.items():
        field = fields[key]
        if "fields" in field and field["type"].startswith("[]"):
            value = [build(getattr(cls, field["type"][2:]), item) for item in value]
        elif "fields" in field:
            value = build(getattr(cls, field["type"]), value)
        kwargs[key] = value
    return cls[version](**kwargs) if version is not None else cls(**kwargs)


@dataclass(frozen=True)
class Step:
    """One request of the corpus. With ``until``, the request is repeated (for at most
    ``RETRY_SECONDS``) until the raw response satisfies it: for state a broker reaches
    in its own time, such as a coordinator loading its partition.

    ``listener`` names the listener it goes to (``plaintext`` or ``sasl``); ``login``
    authenticates the connection first as that user (PLAIN), and ``prelude`` gives
    other requests to send first on the same connection."""

    name: str
    request: Callable[..., Any]  # a versioned kafka-python request object, or a Native request
    until: Callable[[dict], bool] | None = None
    listener: str = "plaintext"
    login: str | None = None
    prelude: Callable[[], list[Any]] | None = None
    #: With ``keep``, ``request`` takes the broker's context (a dict this broker's
    #: earlier steps filled: topic ids, member epochs, share session epochs), and
    #: ``keep(response, context)`` records what later steps need from each answer.
    keep: Callable[[dict, dict], None] | None = None
    #: Sent on the broker's kept connection, open from the first such step to the end
    #: of the run (a share session lives as long as its connection, KIP-932).
    kept_connection: bool = False

    def requests(self, context: dict) -> list[Any]:
        """Everything sent on the step's connection, the compared request last."""
        first = _login(self.login) if self.login else []
        last = self.request(context) if self.keep else self.request()
        return [*first, *(self.prelude() if self.prelude else []), last]


RETRY_SECONDS = 15.0
#: The context key of a broker's kept connection (``Step.kept_connection``).
KEPT_CONNECTION = "<kept connection>"


def _topic(name: str = TOPIC, partitions: int = 2, configs: list | None = None) -> dict:
    return {"name": name, "num_partitions": partitions, "replication_factor": 1, "assignments": [],
            "configs": configs or []}


def _fetch(version: int, isolation: int = 0) -> Any:
    partition = {"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0, "last_fetched_epoch": -1,
                 "log_start_offset": -1, "partition_max_bytes": 1 << 20}
    return build(FetchRequest, {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20,
                                "isolation_level": isolation, "session_id": 0, "session_epoch": -1,
                                "topics": [{"topic": TOPIC, "partitions": [partition]}],
                                "forgotten_topics_data": [], "rack_id": ""}, version)


def _list_offsets(timestamp: int) -> Any:
    return build(ListOffsetsRequest, {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": TOPIC, "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": timestamp}]}]}, 7)


def _describe_configs(names: list[str] | None, topic: str = TOPIC) -> Any:
    return build(DescribeConfigsRequest, {
        "resources": [{"resource_type": 2, "resource_name": topic, "configuration_keys": names}],
        "include_synonyms": False, "include_documentation": False}, 4)


def _metadata(topic: str) -> Any:
    return build(MetadataRequest, {"topics": [{"topic_id": None, "name": topic}], "allow_auto_topic_creation": False,
                                   "include_topic_authorized_operations": False}, 12)


def _create(topic: dict, validate_only: bool = False) -> Any:
    return build(CreateTopicsRequest, {"topics": [topic], "timeout_ms": 10000, "validate_only": validate_only}, 7)


def _produce(partition: int, acks: int = 1, topic: str = TOPIC, keyless: tuple[int, ...] = ()) -> Any:
    return build(ProduceRequest, {"transactional_id": None, "acks": acks, "timeout_ms": 5000, "topic_data": [
        {"name": topic, "partition_data": [{"index": partition, "records": record_batch(keyless)}]}]}, 9)


def _offset_for_leader_epoch(epoch: int) -> Any:
    return build(OffsetForLeaderEpochRequest, {"replica_id": -1, "topics": [{"topic": TOPIC, "partitions": [
        {"partition": 0, "current_leader_epoch": -1, "leader_epoch": epoch}]}]}, 4)


def _find_coordinator(key_type: int = 0, key: str = GROUP) -> Any:
    return FindCoordinatorRequest[4](key_type=key_type, coordinator_keys=[key])


def _coordinator_ready(response: dict) -> bool:
    return all(c["error_code"] != 15 for c in response["coordinators"])  # not COORDINATOR_NOT_AVAILABLE


#: COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: a group
#: coordinator still loading its partition (a cold broker), retried as clients do.
_COORDINATOR_LOADING = (14, 15, 16)


def _group_coordinator_answered(response: dict) -> bool:
    return response["error_code"] not in _COORDINATOR_LOADING


def _group_listed(response: dict) -> bool:
    """The first JoinGroup's empty group record is committed: Kafka answers that JoinGroup
    (MEMBER_ID_REQUIRED) before it is, and lists groups as of the last committed write."""
    return _group_coordinator_answered(response) and any(g["group_id"] == GROUP for g in response["groups"])


def _retention_altered(response: dict) -> bool:
    """The altered retention.ms is described: a broker applies a config change from the
    metadata log, after IncrementalAlterConfigs has answered."""
    return any(c["name"] == "retention.ms" and c["value"] == "987654321" for c in response["results"][0]["configs"])


CORPUS: list[Step] = [
    Step("api_versions_v0", lambda: ApiVersionsRequest[0]()),
    Step("api_versions_v3", lambda: ApiVersionsRequest[3](client_software_name="oracle", client_software_version="1")),
    Step("metadata_unknown_topic", lambda: _metadata("oracle-missing")),
    Step("create_topics", lambda: _create(_topic(configs=[{"name": "retention.ms", "value": "123456789"}]))),
    Step("create_topics_exists", lambda: _create(_topic())),
    Step("create_topics_bad_partitions", lambda: _create(_topic("oracle-zero", partitions=0))),
    Step("create_topics_compacted", lambda: _create(_topic(COMPACTED, 1, [{"name": "cleanup.policy",
                                                                           "value": "compact"}]))),
    Step("create_topics_validate_only", lambda: _create(_topic("oracle-validate", partitions=3), validate_only=True)),
    Step("metadata_topic", lambda: _metadata(TOPIC)),
    Step("describe_configs_all", lambda: _describe_configs(None)),
    Step("incremental_alter_configs", lambda: build(IncrementalAlterConfigsRequest, {"resources": [
        {"resource_type": 2, "resource_name": TOPIC,
         "configs": [{"name": "retention.ms", "config_operation": 0, "value": "987654321"}]}], "validate_only": False}, 1)),
    Step("describe_configs_retention", lambda: _describe_configs(["retention.ms", "cleanup.policy"]),
         until=_retention_altered),
    Step("describe_configs_empty_keys", lambda: _describe_configs([])),
    Step("describe_configs_unknown_topic", lambda: _describe_configs(None, topic="oracle-missing")),
    Step("produce", lambda: _produce(0)),
    Step("produce_again", lambda: _produce(0, acks=-1)),
    Step("produce_unknown_partition", lambda: _produce(99)),
    Step("produce_keyless_to_compacted", lambda: _produce(0, topic=COMPACTED, keyless=(1, 2))),
    Step("list_offsets_earliest", lambda: _list_offsets(-2)),
    Step("list_offsets_latest", lambda: _list_offsets(-1)),
    Step("list_offsets_max_timestamp", lambda: _list_offsets(-3)),
    Step("list_offsets_by_time", lambda: _list_offsets(BASE_TS + 500)),
    Step("list_offsets_after_all", lambda: _list_offsets(BASE_TS + 10_000)),
    Step("fetch_v12", lambda: _fetch(12)),
    Step("fetch_v4_read_committed", lambda: _fetch(4, isolation=1)),
    Step("offset_for_leader_epoch", lambda: _offset_for_leader_epoch(0)),
    Step("offset_for_leader_epoch_future", lambda: _offset_for_leader_epoch(7)),
    Step("describe_cluster", lambda: build(DescribeClusterRequest, {
        "include_cluster_authorized_operations": False, "endpoint_type": 1}, 1)),
    Step("init_producer_id_idempotent", lambda: build(InitProducerIdRequest, {
        "transactional_id": None, "transaction_timeout_ms": 60000, "producer_id": -1, "producer_epoch": -1}, 5)),
    Step("find_coordinator", _find_coordinator),
    Step("find_coordinator_ready", _find_coordinator, until=_coordinator_ready),
    Step("join_group_first_join", lambda: build(JoinGroupRequest, {
        "group_id": GROUP, "session_timeout_ms": 10000, "rebalance_timeout_ms": 10000, "member_id": "",
        "group_instance_id": None, "protocol_type": "consumer", "protocols": [{"name": "range", "metadata": b""}],
        "reason": None}, 9), until=_group_coordinator_answered),
    Step("list_groups", lambda: build(ListGroupsRequest, {"states_filter": [], "types_filter": []}, 5),
         until=_group_listed),
    Step("describe_groups_unknown", lambda: build(DescribeGroupsRequest, {
        "groups": ["oracle-unknown-group"], "include_authorized_operations": False}, 5)),
    Step("offset_fetch_unknown_group", lambda: build(OffsetFetchRequest, {"groups": [
        {"group_id": "oracle-unknown-group", "member_id": None, "member_epoch": -1,
         "topics": [{"name": TOPIC, "partition_indexes": [0]}]}], "require_stable": False}, 9)),
    Step("delete_topics", lambda: build(DeleteTopicsRequest, {"topics": [{"name": TOPIC, "topic_id": None},
                                                                         {"name": COMPACTED, "topic_id": None}],
                                                              "timeout_ms": 10000}, 6)),
    Step("metadata_deleted_topic", lambda: _metadata(TOPIC)),
]

# --- the secure corpus (--secure) --------------------------------------------------------

#: The users of the SASL listener (PLAIN from the JAAS config, SCRAM-SHA-256 as well).
USERS = {"admin": "admin-secret", "alice": "alice-secret"}
SECURE_TOPIC, HIDDEN_TOPIC = "oracle-secure-orders", "oracle-hidden"  # alice may read oracle-secure-*
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
# ResourceType TOPIC 2, CLUSTER 4; PatternType ANY 1, LITERAL 3, PREFIXED 4; AclOperation
# ANY 1, READ 3, WRITE 4; AclPermissionType ANY 1, ALLOW 3 (Kafka's enums).
_TOPIC_RESOURCE, _ANY, _LITERAL, _PREFIXED, _READ, _ALLOW = 2, 1, 3, 4, 3, 3


def secure_properties(ports: dict[str, int]) -> dict[str, str]:
    """The settings both brokers of ``--secure`` run with: PLAINTEXT (ANONYMOUS, a super
    user, as the controller and inter-broker listener of Kafka's documented setups) and
    SASL_PLAINTEXT listeners, on ``ports`` (``plaintext``, ``sasl``, ``controller``)."""
    from kafkapy.config import LISTENER_CONFIG_PREFIX, BrokerConfig

    name = BrokerConfig.field_name
    jaas = name("sasl_jaas_config")
    users = " ".join(f'user_{user}="{password}"' for user, password in USERS.items())
    served = f"PLAINTEXT://127.0.0.1:{ports['plaintext']},SASL_PLAINTEXT://127.0.0.1:{ports['sasl']}"
    return {
        name("listeners"): f"{served},CONTROLLER://127.0.0.1:{ports['controller']}",
        name("advertised_listeners"): served,
        name("controller_quorum_voters"): f"1@127.0.0.1:{ports['controller']}",
        name("listener_security_protocol_map"):
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        name("inter_broker_listener_name"): "PLAINTEXT",
        name("sasl_enabled_mechanisms"): "PLAIN,SCRAM-SHA-256",
        f"{LISTENER_CONFIG_PREFIX}sasl_plaintext.plain.{jaas}": f"{_PLAIN_MODULE} required {users};",
        f"{LISTENER_CONFIG_PREFIX}sasl_plaintext.scram-sha-256.{jaas}": f"{_SCRAM_MODULE} required;",
        name("authorizer_class_name"): "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        name("super_users"): "User:admin;User:ANONYMOUS",
    }


def _handshake(mechanism: str = "PLAIN", version: int = 1) -> Any:
    return SaslHandshakeRequest[version](mechanism=mechanism)


def _authenticate(token: bytes, version: int = 2) -> Any:
    return SaslAuthenticateRequest[version](auth_bytes=token)


def _plain_token(user: str, password: str) -> bytes:
    return f"\0{user}\0{password}".encode()


def _login(user: str) -> list[Any]:
    return [_handshake(), _authenticate(_plain_token(user, USERS[user]))]


def _acl(pattern: int, operation: int, name: str = "oracle-secure-", principal: str = "User:alice") -> dict:
    return {"resource_type": _TOPIC_RESOURCE, "resource_name": name, "resource_pattern_type": pattern,
            "principal": principal, "host": "*", "operation": operation, "permission_type": _ALLOW}


def _describe_acls(principal: str | None = None) -> Any:
    return build(DescribeAclsRequest, {"resource_type_filter": _ANY, "resource_name_filter": None,
                                       "pattern_type_filter": _ANY, "principal_filter": principal,
                                       "host_filter": None, "operation": _ANY, "permission_type": _ANY}, 3)


def _delete_acls() -> Any:
    return build(DeleteAclsRequest, {"filters": [{
        "resource_type_filter": _ANY, "resource_name_filter": None, "pattern_type_filter": _ANY,
        "principal_filter": "User:alice", "host_filter": None, "operation": _ANY, "permission_type": _ANY}]}, 3)


def _secure(name: str, request: Callable[[], Any], login: str | None = "alice", **kwargs: Any) -> Step:
    return Step(name, request, listener="sasl", login=login, **kwargs)


def _topic_listed(response: dict) -> bool:
    return all(t["error_code"] == 0 and t["partitions"] for t in response["topics"])


def _acls_listed(response: dict) -> bool:
    """ACLs reach a broker's authorizer through the metadata log, after CreateAcls answers."""
    return bool(response["resources"])


def _acls_gone(response: dict) -> bool:
    return not response["resources"]


SECURE_CORPUS: list[Step] = [
    _secure("sasl_handshake_v1", lambda: _handshake(), login=None),
    _secure("sasl_handshake_v0", lambda: _handshake(version=0), login=None),
    _secure("sasl_handshake_unsupported_mechanism", lambda: _handshake("GSSAPI"), login=None),
    _secure("sasl_authenticate_plain", lambda: _authenticate(_plain_token("alice", USERS["alice"])), login=None,
            prelude=lambda: [_handshake()]),
    _secure("sasl_authenticate_v0_plain", lambda: _authenticate(_plain_token("alice", USERS["alice"]), 0),
            login=None, prelude=lambda: [_handshake()]),
    _secure("sasl_authenticate_wrong_password", lambda: _authenticate(_plain_token("alice", "wrong"), 1),
            login=None, prelude=lambda: [_handshake()]),
    _secure("sasl_authenticate_scram_unknown_user", lambda: _authenticate(b"n,,n=nobody,r=oracle-nonce"),
            login=None, prelude=lambda: [_handshake("SCRAM-SHA-256")]),
    _secure("sasl_authenticate_without_handshake", lambda: _authenticate(_plain_token("alice", USERS["alice"])),
            login=None),
    _secure("metadata_before_authentication", lambda: _metadata(SECURE_TOPIC), login=None),
    _secure("sasl_handshake_after_authentication", lambda: _handshake()),
    _secure("describe_acls_none", lambda: _describe_acls(), login="admin"),
    _secure("create_topics_admin", lambda: build(CreateTopicsRequest, {"topics": [
        _topic(SECURE_TOPIC, 1), _topic(HIDDEN_TOPIC, 1)], "timeout_ms": 10000, "validate_only": False}, 7),
            login="admin"),
    _secure("create_acls_admin", lambda: build(CreateAclsRequest, {"creations": [
        _acl(_PREFIXED, _READ), _acl(_LITERAL, _READ, name=SECURE_TOPIC, principal="User:bob")]}, 3), login="admin"),
    _secure("describe_acls_admin", lambda: _describe_acls(), login="admin", until=_acls_listed),
    _secure("describe_acls_admin_by_principal", lambda: _describe_acls("User:alice"), login="admin"),
    _secure("describe_acls_unauthorized", lambda: _describe_acls()),
    _secure("create_acls_unauthorized", lambda: build(CreateAclsRequest, {"creations": [
        _acl(_LITERAL, _READ, name=HIDDEN_TOPIC)]}, 3)),
    _secure("metadata_authorized_topic", lambda: _metadata(SECURE_TOPIC), until=_topic_listed),
    _secure("metadata_unauthorized_topic", lambda: _metadata(HIDDEN_TOPIC)),
    _secure("produce_unauthorized", lambda: _produce(0, topic=SECURE_TOPIC)),
    _secure("create_topics_unauthorized", lambda: _create(_topic("oracle-secure-alice", 1))),
    _secure("delete_acls_admin", _delete_acls, login="admin"),
    _secure("describe_acls_after_delete", lambda: _describe_acls(), login="admin", until=_acls_gone),
]


# Fields whose values differ between any two brokers and carry no compatibility meaning.
OPAQUE = {"throttle_time_ms": None, "cluster_id": "<cluster-id>", "host": "<host>", "port": "<port>",
          "finalized_features_epoch": "<epoch>"}
UUID_FIELDS = {"topic_id"}
#: The topic id (Uuid.toString) in a share coordinator key ``group:topicId:partition``.
_SHARE_KEY_TOPIC_ID = re.compile(r":[A-Za-z0-9_-]{22}:(?=\d+$)")
_MEMBER_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalise(value: Any, key: str | None = None) -> Any:
    """Blank what legitimately differs between brokers; keep everything a client reads."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in OPAQUE:
                out[k] = OPAQUE[k]
            elif k in UUID_FIELDS:
                zero = not any(v) if isinstance(v, bytes) else v is None or str(v).strip("0-") == ""
                out[k] = "<zero-uuid>" if zero else "<uuid>"
            elif k == "error_message":  # wording may differ; null vs empty vs text may not
                out[k] = v if not v else "<message>"
            elif k == "member_id" and isinstance(v, str):  # "<client id>-<random uuid>" (KIP-394)
                out[k] = _MEMBER_UUID.sub("<uuid>", v)
            elif k == "key" and isinstance(v, str):  # a share coordinator key names a topic id
                out[k] = _SHARE_KEY_TOPIC_ID.sub(":<topic-id>:", v)
            else:
                out[k] = normalise(v, k)
        return out
    if isinstance(value, list):
        items = [normalise(v) for v in value]
        # Order is not meaningful (DescribeAcls groups its bindings in a Java HashMap's order;
        # ListGroups lists a coordinator's groups in its map's order).
        if key in {"topics", "results", "partitions", "responses", "api_keys", "configs", "resources", "acls",
                   "groups"}:
            items.sort(key=lambda item: json.dumps(item, sort_keys=True, default=str))
        return items
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def encode(request: Any) -> bytes:
    """The framed request; an encoding error is a corpus bug and stops the run."""
    if isinstance(request, Native):
        return request.frame()
    request.with_header(correlation_id=next(_correlation), client_id="kafkapy-oracle")
    return request.encode(header=True, framed=True)


#: The answer recorded for a request the broker closed the connection on.
CLOSED = {"<connection closed>": True}


def _read_response(sock: socket.socket, request: Any) -> dict:
    size = struct.unpack(">i", brokers._recv_exact(sock, 4))[0]
    payload = brokers._recv_exact(sock, size)
    if isinstance(request, Native):
        return request.decode(struct.pack(">i", size) + payload)
    response_class = type(request).__name__.replace("Request", "Response").split("_v")[0]
    module = sys.modules[type(request).__module__]
    response = getattr(module, response_class).decode(payload, version=request.API_VERSION, header=True)
    return response.to_dict()


def exchange(bootstrap: str, request: Any) -> dict:
    """Send one request on a fresh connection; return the decoded response as a dict."""
    return exchange_all(bootstrap, [request])[-1]


def connect(bootstrap: str) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=15)


def exchange_all(bootstrap: str, requests: list[Any], sock: socket.socket | None = None) -> list[dict]:
    """Send requests in turn on one fresh connection (or on ``sock``, left open); their
    decoded responses, with :data:`CLOSED` for each once the broker has closed the connection."""
    answers: list[dict] = []
    with contextlib.ExitStack() as stack:
        if sock is None:
            sock = stack.enter_context(connect(bootstrap))
        for request in requests:
            try:
                sock.sendall(encode(request))
                answers.append(_read_response(sock, request))
            except (ConnectionError, BrokenPipeError):
                answers.extend([CLOSED] * (len(requests) - len(answers)))
                break
    return answers


def play(bootstrap: str, step: Step, context: dict) -> Any:
    """The step's response (with a prelude or login, every answer on the connection);
    with ``until``, the first whose last answer satisfies it (or the last one)."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        sock = None
        if step.kept_connection:
            sock = context.get(KEPT_CONNECTION) or context.setdefault(KEPT_CONNECTION, connect(bootstrap))
        answers = exchange_all(bootstrap, step.requests(context), sock)
        if CLOSED in answers and sock is not None:
            context.pop(KEPT_CONNECTION).close()
        response = answers[-1]
        if step.keep and response is not CLOSED:
            step.keep(response, context)
        if step.until is None or step.until(response) or time.monotonic() > deadline:
            return response if len(answers) == 1 else answers
        time.sleep(0.2)


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two normalised responses differ (reference value first)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in diff(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    if a != b:
        return [f"{path or '.'}: reference {json.dumps(a, default=str)[:160]} != target {json.dumps(b, default=str)[:160]}"]
    return []


Addresses = str | dict[str, str]


def run(reference: Addresses, target: Addresses, corpus: list[Step] | None = None) -> tuple[int, int, int]:
    """Play the corpus against both brokers; print one line per step; return (same, known, differing).

    Args:
        reference: the reference broker's bootstrap, or its address per listener name.
        target: the same for the broker under test.
        corpus: the steps (default :data:`CORPUS`).
    """
    known = tomllib.loads(KNOWN.read_text()) if KNOWN.exists() else {}
    counts = [0, 0, 0]
    contexts: tuple[dict, dict] = ({}, {})
    for step in CORPUS if corpus is None else corpus:
        answers = []
        for addresses, context in zip((reference, target), contexts, strict=True):
            bootstrap = addresses if isinstance(addresses, str) else addresses[step.listener]
            for request in step.requests(context):
                encode(request)  # fails loudly, outside the comparison, if the corpus is wrong
            try:
                answers.append(normalise(play(bootstrap, step, context)))
            except (OSError, ValueError, EOFError, WireError) as exc:
                # a dropped connection or an undecodable answer is a result too
                answers.append({"<no response>": f"{type(exc).__name__}: {exc}"})
                if step.kept_connection and KEPT_CONNECTION in context:
                    context.pop(KEPT_CONNECTION).close()
        differences = diff(*answers)
        if not differences:
            counts[0] += 1
            print(f"same      {step.name}")
        elif step.name in known:
            counts[1] += 1
            print(f"known     {step.name}: {known[step.name].get('reason', '')}")
        else:
            counts[2] += 1
            print(f"DIFFERENT {step.name}")
            for line in differences[:15]:
                print(f"    {line}")
            if len(differences) > 15:
                print(f"    ... {len(differences) - 15} more")
    for context in contexts:
        if KEPT_CONNECTION in context:
            context.pop(KEPT_CONNECTION).close()
    return counts[0], counts[1], counts[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat_tests.oracle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    ref = parser.add_mutually_exclusive_group(required=True)
    ref.add_argument("--reference-bootstrap", help="a running Apache Kafka to compare against")
    ref.add_argument("--start-reference", action="store_true", help="start Apache Kafka from Maven Central jars")
    tgt = parser.add_mutually_exclusive_group(required=True)
    tgt.add_argument("--target-bootstrap", help="a running broker under test")
    tgt.add_argument("--start-kafkapy", action="store_true", help="start kafkapy with --broker-command")
    tgt.add_argument("--target-reference", action="store_true", help="a second Apache Kafka (checks the oracle)")
    parser.add_argument("--broker-command", default=os.environ.get("KAFKAPY_BROKER_COMMAND", brokers.DEFAULT_KAFKAPY_COMMAND))
    parser.add_argument("--secure", action="store_true",
                        help="play SECURE_CORPUS against both brokers started with secure_properties")
    parser.add_argument("--share-streams", action="store_true",
                        help="play the share-group and streams-group corpus (compat_tests.oracle_share_streams) "
                             "against Apache Kafka 4.4.0")
    args = parser.parse_args(argv)
    corpus_option = "--secure" if args.secure else "--share-streams" if args.share_streams else None
    if corpus_option and not (args.start_reference and (args.start_kafkapy or args.target_reference)):
        parser.error(f"{corpus_option} starts both brokers: --start-reference with --start-kafkapy or "
                     "--target-reference")
    if args.share_streams:
        from compat_tests import oracle_share_streams as groups

        def kafka() -> brokers.BrokerProcess:
            return brokers.start_reference(version=groups.VERSION, overrides={**groups.CONFIG, **groups.KAFKA_ONLY})

        with contextlib.ExitStack() as stack:
            reference = stack.enter_context(kafka())
            if args.target_reference:
                target = stack.enter_context(kafka())
            else:
                overrides = "".join(f" --override {shlex.quote(f'{k}={v}')}" for k, v in groups.CONFIG.items())
                target = stack.enter_context(brokers.start_command(args.broker_command + overrides))
            same, known, different = run(reference.bootstrap, target.bootstrap, groups.CORPUS)
        print(f"oracle --share-streams: {same} same, {known} known differences, {different} different")
        return 1 if different else 0
    if args.secure:
        with contextlib.ExitStack() as stack:
            reference = stack.enter_context(start_secure(None))
            target = stack.enter_context(start_secure(None if args.target_reference else args.broker_command))
            same, known, different = run(reference, target, SECURE_CORPUS)
        print(f"oracle --secure: {same} same, {known} known differences, {different} different")
        return 1 if different else 0
    with contextlib.ExitStack() as stack:
        reference = args.reference_bootstrap or stack.enter_context(brokers.start_reference()).bootstrap
        if args.target_bootstrap:
            target = args.target_bootstrap
        elif args.target_reference:
            target = stack.enter_context(brokers.start_reference()).bootstrap
        else:
            target = stack.enter_context(brokers.start_command(args.broker_command)).bootstrap
        same, known, different = run(reference, target)
    print(f"oracle: {same} same, {known} known differences, {different} different")
    return 1 if different else 0


@contextlib.contextmanager
def start_secure(command: str | None) -> Any:
    """A broker with :func:`secure_properties`, yielding its address per listener name:
    Apache Kafka with ``command`` None, else the kafkapy command template (``{python}``,
    ``{port}``) with the settings as ``--override`` arguments after its own."""
    import tempfile

    ports = {name: brokers.free_port() for name in ("plaintext", "sasl", "controller")}
    settings = secure_properties(ports)
    if command is None:
        broker = brokers.start_reference(ports["plaintext"], overrides=settings)
    else:
        argv = shlex.split(command.format(python=shlex.quote(sys.executable), port=ports["plaintext"]))
        argv += [arg for key, value in settings.items() for arg in ("--override", f"{key}={value}")]
        log = Path(tempfile.mkstemp(prefix="kafkapy-oracle-", suffix=".log")[1])
        broker = brokers.BrokerProcess(argv, ports["plaintext"], log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        broker.wait_ready(60)
    try:
        yield {"plaintext": f"127.0.0.1:{ports['plaintext']}", "sasl": f"127.0.0.1:{ports['sasl']}"}
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
