"""The broker's channel to the active controller (Kafka's ``NodeToControllerChannelManager``).

A node's own requests to the controller (BrokerRegistration, BrokerHeartbeat,
AllocateProducerIds, the CreateTopics of topic auto-creation) and the admin requests
clients send to any broker (CreateTopics, DeleteTopics, ...) must reach the node that
leads the metadata quorum. When that is this node they run on the local
:class:`~kafkapy.kraft.metadata.service.MetadataService`; otherwise they go over the
controller listener of the leader, in Kafka's wire form, on a
:class:`~kafkapy.kraft.raft.network.PeerConnection` that follows the leader.

:class:`ControllerChannel` offers the controller operations the lifecycle and the
producer id manager call, with the local service's signatures, converting to and
from the wire here; the controller listener's handlers (``handlers/controller.py``)
convert back with the same functions. :func:`forwarding_hook` forwards client admin
requests as Kafka's ``ForwardingManager`` does (KIP-590): in an Envelope carrying the
client's request header (its client id), body (in its version), principal and address,
so that the controller authorizes and counts controller mutation quotas (KIP-599) as
that client; the inner answer goes back to the client as it is, and its throttle time
mutes the client's channel here (``RequestHandlerHelper.sendForwardedResponse``). An
envelope answered UNSUPPORTED_VERSION leaves the request to the local handler; another
envelope error answers the client UNKNOWN_SERVER_ERROR, as Kafka's.

Failures are :class:`~kafkapy.kraft.metadata.errors.NotControllerError`: no leader
known, the leader unreachable, or NOT_CONTROLLER in its answer. Callers retry.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from kafkapy.kraft.metadata.cluster_control import (
    BrokerHeartbeatReply,
    BrokerHeartbeatRequest,
    BrokerRegistrationReply,
    BrokerRegistrationRequest,
)
from kafkapy.kraft.metadata.controller import ProducerIdsBlock
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.image import ConfigResourceType, Endpoint, Uuid
from kafkapy.kraft.metadata.replication_control import (
    CreateTopicResult,
    NewTopic,
    PartitionStateChange,
    PartitionStateResult,
)
from kafkapy.kraft.metadata.results import ApiError
from kafkapy.kraft.raft.network import Address, Authenticator, PeerConnection, PeerUnavailable
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.message import Message
from kafkapy.wire.messages import allocate_producer_ids as _ids
from kafkapy.wire.messages import alter_partition as _alter
from kafkapy.wire.messages import broker_heartbeat as _heartbeat
from kafkapy.wire.messages import broker_registration as _registration
from kafkapy.wire.messages import create_topics as _create

log = logging.getLogger(__name__)

#: Admin APIs a broker forwards to the active controller (Kafka's ``forwardToController``).
FORWARDED_APIS = frozenset({
    ApiKey.CREATE_TOPICS, ApiKey.DELETE_TOPICS, ApiKey.CREATE_PARTITIONS, ApiKey.ALTER_CONFIGS,
    ApiKey.INCREMENTAL_ALTER_CONFIGS, ApiKey.DESCRIBE_QUORUM, ApiKey.ADD_RAFT_VOTER, ApiKey.REMOVE_RAFT_VOTER,
    ApiKey.UPDATE_FEATURES, ApiKey.ELECT_LEADERS, ApiKey.ALTER_PARTITION_REASSIGNMENTS,
    ApiKey.LIST_PARTITION_REASSIGNMENTS, ApiKey.ALTER_USER_SCRAM_CREDENTIALS, ApiKey.CREATE_ACLS, ApiKey.DELETE_ACLS,
    ApiKey.ALTER_CLIENT_QUOTAS, ApiKey.UNREGISTER_BROKER, ApiKey.UNREGISTER_CONTROLLER,
})


def _code(code: int) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


# --- BrokerRegistration (62), BrokerHeartbeat (63), AllocateProducerIds (67) -----------


def registration_to_wire(r: BrokerRegistrationRequest) -> Any:
    m = _registration.BrokerRegistrationRequest
    return m(broker_id=r.broker_id, cluster_id=r.cluster_id, incarnation_id=r.incarnation_id,
             listeners=[m.Listener(name=e.name, host=e.host, port=e.port, security_protocol=e.security_protocol)
                        for e in r.listeners],
             features=[m.Feature(name=name, min_supported_version=lo, max_supported_version=hi)
                       for name, (lo, hi) in sorted(r.features.items())],
             rack=r.rack, log_dirs=list(r.log_dirs), previous_broker_epoch=r.previous_broker_epoch)


def registration_from_wire(m: Any) -> BrokerRegistrationRequest:
    return BrokerRegistrationRequest(
        broker_id=m.broker_id, cluster_id=m.cluster_id, incarnation_id=bytes(m.incarnation_id),
        listeners=tuple(Endpoint(e.name, e.host, e.port, e.security_protocol) for e in m.listeners),
        features={f.name: (f.min_supported_version, f.max_supported_version) for f in m.features},
        rack=m.rack, log_dirs=tuple(bytes(d) for d in m.log_dirs), previous_broker_epoch=m.previous_broker_epoch)


def registration_reply_to_wire(r: BrokerRegistrationReply) -> Any:
    return _registration.BrokerRegistrationResponse(error_code=r.error.code, broker_epoch=r.broker_epoch)


def registration_reply_from_wire(m: Any) -> BrokerRegistrationReply:
    return BrokerRegistrationReply(ApiError(_code(m.error_code)), m.broker_epoch)


def heartbeat_to_wire(r: BrokerHeartbeatRequest) -> Any:
    return _heartbeat.BrokerHeartbeatRequest(
        broker_id=r.broker_id, broker_epoch=r.broker_epoch, current_metadata_offset=r.current_metadata_offset,
        want_fence=r.want_fence, want_shut_down=r.want_shutdown, offline_log_dirs=list(r.offline_log_dirs))


def heartbeat_from_wire(m: Any) -> BrokerHeartbeatRequest:
    return BrokerHeartbeatRequest(m.broker_id, m.broker_epoch, m.current_metadata_offset, m.want_fence,
                                  m.want_shut_down, tuple(bytes(d) for d in m.offline_log_dirs))


def heartbeat_reply_to_wire(r: BrokerHeartbeatReply) -> Any:
    return _heartbeat.BrokerHeartbeatResponse(error_code=r.error.code, is_caught_up=r.is_caught_up,
                                              is_fenced=r.is_fenced, should_shut_down=r.should_shutdown)


def heartbeat_reply_from_wire(m: Any) -> BrokerHeartbeatReply:
    return BrokerHeartbeatReply(ApiError(_code(m.error_code)), m.is_caught_up, m.is_fenced, m.should_shut_down)


def producer_ids_to_wire(r: ProducerIdsBlock) -> Any:
    return _ids.AllocateProducerIdsResponse(error_code=r.error.code, producer_id_start=r.producer_id_start,
                                            producer_id_len=r.producer_id_len)


# --- AlterPartition (56) -------------------------------------------------------------------

#: The AlterPartition request of one leader: topic id -> the partitions' wanted states.
PartitionChanges = Mapping[Uuid, Sequence[PartitionStateChange]]


def alter_partition_to_wire(broker_id: int, broker_epoch: int, topics: PartitionChanges,
                            broker_epochs: Callable[[int], int]) -> Any:
    """The request in its v3 form: the ISR with each member's broker epoch (KIP-903);
    ``new_isr`` carries the same ids for a controller that takes v2."""
    m = _alter.AlterPartitionRequest
    return m(broker_id=broker_id, broker_epoch=broker_epoch, topics=[
        m.TopicData(topic_id=topic_id, partitions=[
            m.PartitionData(partition_index=c.partition_index, leader_epoch=c.leader_epoch,
                            new_isr=list(c.new_isr),
                            new_isr_with_epochs=[m.BrokerState(broker_id=b, broker_epoch=broker_epochs(b))
                                                 for b in c.new_isr],
                            leader_recovery_state=c.leader_recovery_state, partition_epoch=c.partition_epoch)
            for c in changes])
        for topic_id, changes in topics.items()])


def alter_partition_from_wire(m: Any, version: int) -> tuple[int, int, dict[Uuid, list[PartitionStateChange]]]:
    topics: dict[Uuid, list[PartitionStateChange]] = {}
    for t in m.topics:
        topics.setdefault(bytes(t.topic_id), []).extend(
            PartitionStateChange(p.partition_index, p.leader_epoch,
                                 tuple(b.broker_id for b in p.new_isr_with_epochs) if version >= 3 else tuple(p.new_isr),
                                 p.partition_epoch, p.leader_recovery_state,
                                 tuple(b.broker_epoch for b in p.new_isr_with_epochs) if version >= 3 else ())
            for p in t.partitions)
    return m.broker_id, m.broker_epoch, topics


def alter_partition_reply_to_wire(error: ApiError, results: Sequence[PartitionStateResult]) -> Any:
    m = _alter.AlterPartitionResponse
    by_topic: dict[Uuid, list[Any]] = {}
    for r in results:
        by_topic.setdefault(r.topic_id, []).append(m.PartitionData(
            partition_index=r.partition_index, error_code=r.error.code, leader_id=r.leader_id,
            leader_epoch=r.leader_epoch, isr=list(r.isr), leader_recovery_state=r.leader_recovery_state,
            partition_epoch=r.partition_epoch))
    return m(error_code=error.code, topics=[m.TopicData(topic_id=t, partitions=ps) for t, ps in by_topic.items()])


def alter_partition_reply_from_wire(m: Any) -> tuple[ApiError, list[PartitionStateResult]]:
    return ApiError(_code(m.error_code)), [
        PartitionStateResult(bytes(t.topic_id), p.partition_index, ApiError(_code(p.error_code)), p.leader_id,
                             p.leader_epoch, tuple(p.isr), p.leader_recovery_state, p.partition_epoch)
        for t in m.topics for p in t.partitions]


def _new_topic_to_wire(t: NewTopic) -> Any:
    m = _create.CreateTopicsRequest
    return m.CreatableTopic(
        name=t.name, num_partitions=t.num_partitions, replication_factor=t.replication_factor,
        assignments=[m.CreatableReplicaAssignment(partition_index=i, broker_ids=list(ids))
                     for i, ids in sorted((t.assignments or {}).items())],
        configs=[m.CreatableTopicConfig(name=k, value=v) for k, v in t.configs.items()])


def _topic_result_from_wire(r: Any) -> CreateTopicResult:
    # The configs the request set are not in the answer (it lists every effective
    # config); no caller of a forwarded creation reads them.
    return CreateTopicResult(r.name, ApiError(_code(r.error_code), r.error_message), bytes(r.topic_id),
                             r.num_partitions, r.replication_factor)


# --- the channel ------------------------------------------------------------------------


class ControllerChannel:
    """Controller operations on whichever node is the active controller.

    Args:
        metadata: the local metadata service (its ``leader_id`` names the quorum leader).
        controller_address: where a node's controller listener is (by node id).
        request_timeout_ms: ``controller.quorum.request.timeout.ms`` bounds each round trip.
        ssl_context: TLS to the controllers (an SSL or SASL_SSL controller listener), else None.
        authenticate: SASL to the controllers (a SASL controller listener), else None.
    """

    def __init__(self, metadata: Any, controller_address: Callable[[int], Address | None], *,
                 node_id: int, request_timeout_ms: int = 2000, ssl_context: ssl.SSLContext | None = None,
                 authenticate: Authenticator | None = None) -> None:
        self.metadata = metadata
        self.node_id = node_id
        self._timeout_s = request_timeout_ms / 1000
        self._connection = PeerConnection(self._leader_address, client_id=f"broker-{node_id}-controller-channel",
                                          ssl_context=ssl_context, authenticate=authenticate)
        self._controller_address = controller_address

    def _leader_address(self) -> Address | None:
        leader = self.metadata.leader_id
        return None if leader is None else self._controller_address(leader)

    @property
    def is_local(self) -> bool:
        """Whether this node leads the quorum, so operations run here."""
        return self.metadata.leader_id == self.metadata.raft.node_id

    async def send(self, message: Message, *, version: int | None = None) -> Message:
        """Send ``message`` to the active controller; returns its answer.

        Raises:
            NotControllerError: no leader known, or it could not be reached.
        """
        leader = self.metadata.leader_id
        if leader is None:
            raise NotControllerError("no controller is known", None)
        try:
            return await self._connection.request(message, timeout_s=self._timeout_s, version=version)
        except PeerUnavailable as exc:
            raise NotControllerError(f"controller {leader} unreachable: {exc}", leader) from None

    async def forward(self, ctx: Any, request: Message) -> Message | None:
        """``request`` of a client, forwarded in an Envelope (see the module docstring);
        its answer, or None when the envelope came back UNSUPPORTED_VERSION.

        Raises:
            NotControllerError: no leader known, or it could not be reached.
        """
        import socket
        import struct

        from kafkapy.broker.error_response import error_response
        from kafkapy.broker.handlers.envelope import write_principal
        from kafkapy.broker.security.principal import principal_of
        from kafkapy.wire.codec import ClientCodec
        from kafkapy.wire.errors import WireError
        from kafkapy.wire.messages.envelope import EnvelopeRequest

        codec = ClientCodec(ctx.header.client_id)
        _, chunks = codec.encode_request(request, ctx.version)
        frame = b"".join(bytes(c) for c in chunks)
        host = (getattr(ctx.conn, "peer", None) or ("0.0.0.0", 0))[0]
        try:
            address = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            address = b"\0\0\0\0"
        answer: Any = await self.send(EnvelopeRequest(request_data=frame[4:], request_principal=write_principal(
            principal_of(ctx.conn)), client_host_address=address))
        key = ctx.header.request_api_key
        if answer.error_code == ErrorCode.UNSUPPORTED_VERSION:
            log.info("the controller refused the envelope of %s v%d: UNSUPPORTED_VERSION", type(request).__name__,
                     ctx.version)
            return None
        if answer.error_code != ErrorCode.NONE or answer.response_data is None:
            log.warning("forwarding %s: the controller answered the envelope %s", type(request).__name__,
                        ErrorCode(answer.error_code).name)
            failed: Any = error_response(key, ctx.version, request, ErrorCode.UNKNOWN_SERVER_ERROR)
            return failed
        data = bytes(answer.response_data)
        codec.receive_data(struct.pack(">i", len(data)) + data)
        try:
            item = codec.next_response()
        except WireError as exc:
            log.warning("forwarding %s: the inner answer does not decode: %s", type(request).__name__, exc)
            undecodable: Any = error_response(key, ctx.version, request, ErrorCode.UNKNOWN_SERVER_ERROR)
            return undecodable
        return item[1]  # type: ignore[index,no-any-return]

    async def register_broker(self, request: BrokerRegistrationRequest) -> BrokerRegistrationReply:
        if self.is_local:
            return await self.metadata.register_broker(request)  # type: ignore[no-any-return]
        return registration_reply_from_wire(await self.send(registration_to_wire(request)))

    async def broker_heartbeat(self, request: BrokerHeartbeatRequest) -> BrokerHeartbeatReply:
        if self.is_local:
            return await self.metadata.broker_heartbeat(request)  # type: ignore[no-any-return]
        return heartbeat_reply_from_wire(await self.send(heartbeat_to_wire(request)))

    async def allocate_producer_ids(self, broker_id: int, broker_epoch: int) -> ProducerIdsBlock:
        if self.is_local:
            return await self.metadata.allocate_producer_ids(broker_id, broker_epoch)  # type: ignore[no-any-return]
        m = await self.send(_ids.AllocateProducerIdsRequest(broker_id=broker_id, broker_epoch=broker_epoch))
        return ProducerIdsBlock(ApiError(_code(m.error_code)), m.producer_id_start,  # type: ignore[attr-defined]
                                m.producer_id_len)  # type: ignore[attr-defined]

    async def alter_partition(self, broker_id: int, broker_epoch: int,
                              topics: PartitionChanges) -> tuple[ApiError, list[PartitionStateResult]]:
        if self.is_local:
            return await self.metadata.alter_partition(broker_id, broker_epoch, topics)  # type: ignore[no-any-return]
        brokers = self.metadata.image.brokers

        def epoch_of(broker: int) -> int:
            registration = brokers.get(broker)
            return -1 if registration is None else registration.epoch

        return alter_partition_reply_from_wire(
            await self.send(alter_partition_to_wire(broker_id, broker_epoch, topics, epoch_of)))

    async def create_topics(self, topics: Sequence[NewTopic], *, validate_only: bool = False) -> list[CreateTopicResult]:
        if self.is_local:
            return await self.metadata.create_topics(topics, validate_only=validate_only)  # type: ignore[no-any-return]
        m = await self.send(_create.CreateTopicsRequest(
            topics=[_new_topic_to_wire(t) for t in topics], timeout_ms=int(self._timeout_s * 1000),
            validate_only=validate_only))
        return [_topic_result_from_wire(r) for r in m.topics]  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        """Everything else (the image, publishers, other operations) is the local service's."""
        return getattr(self.metadata, name)


#: Admin APIs whose broker resources a broker checks itself before forwarding.
_BROKER_RESOURCE_APIS = frozenset({ApiKey.ALTER_CONFIGS, ApiKey.INCREMENTAL_ALTER_CONFIGS})


def _names_other_brokers(request: Any, node_id: int) -> bool:
    """Whether an AlterConfigs names a broker resource that is neither the cluster
    default ("") nor this broker: only the broker named may take it."""
    return any(r.resource_type == ConfigResourceType.BROKER and r.resource_name not in ("", str(node_id))
               for r in request.resources)


def forwarding_hook(channel: ControllerChannel) -> Callable[[Any, Any], Awaitable[Any]]:
    """A request hook that forwards client admin requests to the active controller.

    A request this node can answer itself (it leads the quorum, or no leader is known
    and the local handler answers NOT_CONTROLLER) goes on to the handler.
    """

    async def forward(ctx: Any, request: Any) -> Any:
        key = ctx.header.request_api_key
        if key not in FORWARDED_APIS or channel.is_local or channel.metadata.leader_id is None:
            return None
        if key in _BROKER_RESOURCE_APIS and _names_other_brokers(request, channel.node_id):
            return None  # Kafka's ConfigAdminManager refuses these here, before forwarding
        try:
            response = await channel.forward(ctx, request)
        except NotControllerError as exc:
            log.info("forwarding %s to the controller failed: %s", type(request).__name__, exc)
            return None  # the local handler answers (NOT_CONTROLLER, or locally for reads)
        throttle_ms = getattr(response, "throttle_time_ms", 0) or 0
        if throttle_ms > 0:  # the controller's quota throttle holds the client's channel here
            from kafkapy.broker.quotas import mute

            mute(ctx.conn, throttle_ms)
        return response

    return forward
