"""Broker registrations, heartbeats and fencing (Kafka's ``ClusterControlManager`` and
``BrokerHeartbeatManager``).

A broker registers (BrokerRegistration) and gets a new broker epoch; it starts fenced.
It then heartbeats every ``broker.heartbeat.interval.ms`` (2 s) with the offset of the
metadata it has applied. Once that offset reaches its registration record, it is caught
up and the controller unfences it. A broker silent for ``broker.session.timeout.ms``
(9 s) is fenced: it leaves every ISR it can leave and its leaderships move on. A broker
that asks to shut down enters controlled shutdown: its leaderships move away, and once
it leads nothing it is fenced and told it may stop.

Broker states, and what moves them (``BrokerHeartbeatManager.calculateNextBrokerState``)::

    FENCED     -> UNFENCED             heartbeat, caught up, not want_fence, not want_shutdown
    FENCED     -> (stays, shut down)   heartbeat with want_shutdown
    UNFENCED   -> FENCED               heartbeat with want_fence; session expired
    UNFENCED   -> CONTROLLED_SHUTDOWN  heartbeat with want_shutdown while it leads partitions
    UNFENCED / CONTROLLED_SHUTDOWN -> FENCED (shut down)   want_shutdown and it leads nothing

Session times are soft state of the active controller, never in the log: on becoming
active, the controller gives every registered broker a fresh session (:meth:`activate`).
Registration offsets come from replaying committed records (:meth:`replay`), as in Kafka.
Times are passed in (``now_ms``); nothing here reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kafkapy.kraft.metadata.image import (
    BrokerRegistration,
    Endpoint,
    MetadataImage,
    Uuid,
)
from kafkapy.kraft.metadata.records import (
    BrokerEndpoint,
    BrokerFeature,
    BrokerRegistrationChangeRecord,
    RegisterBrokerRecord,
    UnregisterBrokerRecord,
)
from kafkapy.kraft.metadata.replication_control import (
    DIRECTORY_LOST,
    fence_replica_changes,
    offline_dir_replica_changes,
    unfence_replica_changes,
)
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.kraft.metadata.topic_configs import DEFAULT_TOPIC_CONFIGS, TopicConfigView
from kafkapy.wire.error_codes import ErrorCode

log = logging.getLogger(__name__)

#: BrokerRegistrationChangeRecord.fenced values.
_FENCE, _UNFENCE = 1, -1


class BrokerRegistrationRequest(NamedTuple):
    """What a broker sends in BrokerRegistration (API 62)."""

    broker_id: int
    cluster_id: str
    incarnation_id: Uuid
    listeners: Sequence[Endpoint]
    #: feature name -> (min supported, max supported)
    features: Mapping[str, tuple[int, int]]
    rack: str | None = None
    log_dirs: Sequence[Uuid] = ()
    previous_broker_epoch: int = -1


class BrokerRegistrationReply(NamedTuple):
    error: ApiError = NO_ERROR
    broker_epoch: int = -1


class BrokerHeartbeatRequest(NamedTuple):
    """What a broker sends in BrokerHeartbeat (API 63)."""

    broker_id: int
    broker_epoch: int
    current_metadata_offset: int
    want_fence: bool = False
    want_shutdown: bool = False
    #: the broker's log directories that failed (KIP-858, v1+)
    offline_log_dirs: Sequence[Uuid] = ()


class BrokerHeartbeatReply(NamedTuple):
    error: ApiError = NO_ERROR
    is_caught_up: bool = False
    is_fenced: bool = True
    should_shutdown: bool = False


@dataclass
class ClusterControl:
    """Registration and session state of the active controller. Not task-safe."""

    session_timeout_ms: int
    #: broker id -> offset of its latest RegisterBrokerRecord (from committed records)
    registration_offsets: dict[int, int] = field(default_factory=dict)
    #: broker id -> time of the last heartbeat or registration (ms)
    last_contact_ms: dict[int, int] = field(default_factory=dict)
    #: where elections read ``unclean.leader.election.enable`` from
    topic_configs: TopicConfigView = DEFAULT_TOPIC_CONFIGS

    def replay(self, record: Any, offset: int) -> None:
        """Note a committed record; only registrations matter here."""
        if isinstance(record, RegisterBrokerRecord):
            self.registration_offsets[record.broker_id] = offset

    def activate(self, image: MetadataImage, now_ms: int) -> None:
        """Start a session for every registered broker (this node just became active)."""
        self.last_contact_ms = {broker_id: now_ms for broker_id in image.brokers}

    def has_valid_session(self, broker: BrokerRegistration, now_ms: int) -> bool:
        """Whether ``broker`` holds a live session: unfenced and heard from within
        ``broker.session.timeout.ms``. A fenced broker never does, as in Kafka's
        ``BrokerHeartbeatManager.hasValidSession``."""
        if broker.fenced:
            return False
        last = self.last_contact_ms.get(broker.id)
        return last is not None and now_ms - last < self.session_timeout_ms

    # --- BrokerRegistration -------------------------------------------------------------

    def register_broker(self, image: MetadataImage, request: BrokerRegistrationRequest,
                        now_ms: int) -> ControllerResult[BrokerRegistrationReply]:
        """BrokerRegistration, as Kafka 4.1's ``ClusterControlManager.registerBroker``.

        A new incarnation (another incarnation id: the process restarted) gets a new
        broker epoch and starts fenced; the records that register it first clean up
        after the previous incarnation, which may have died without a controlled
        shutdown: it leaves the ISRs it is in and its leaderships move, as when a broker
        is fenced (Kafka's ``handleBrokerShutdown``, in the same atomic batch). The same
        incarnation registering again (its answer was lost) amends its registration:
        epoch, fencing and controlled-shutdown state stay.

        Errors: INCONSISTENT_CLUSTER_ID, DUPLICATE_BROKER_REGISTRATION (another
        incarnation holds the id with a live session: Kafka refuses a new incarnation
        until the old one's session expires, ``broker.session.timeout.ms`` after its
        last heartbeat, so a broker restarted after SIGKILL waits for that, on Kafka
        too), UNSUPPORTED_VERSION (the broker cannot run a finalized feature level). A
        fenced registration holds no session here (Kafka 4.1 still counts the
        heartbeats of a broker in controlled shutdown for the session; KAFKA-19047 lets
        such a broker re-register at once), so a broker restarting after a controlled
        shutdown, which ends fenced, registers on its first attempt.
        """
        def fail(code: ErrorCode, message: str) -> ControllerResult[BrokerRegistrationReply]:
            return ControllerResult([], BrokerRegistrationReply(ApiError(code, message)))

        if image.cluster_id is not None and request.cluster_id != image.cluster_id:
            return fail(ErrorCode.INCONSISTENT_CLUSTER_ID,
                        f"Expected cluster ID {image.cluster_id}, but got cluster ID "
                        f"{request.cluster_id}")
        existing = image.brokers.get(request.broker_id)
        if (existing is not None and existing.incarnation_id != request.incarnation_id
                and self.has_valid_session(existing, now_ms)):
            return fail(ErrorCode.DUPLICATE_BROKER_REGISTRATION,
                        "Another broker is registered with that broker id.")
        for name, level in image.features.items():
            low, high = request.features.get(name, (0, 0))
            if not low <= level <= high:
                return fail(ErrorCode.UNSUPPORTED_VERSION,
                            f"Unable to register because the broker does not support finalized "
                            f"version {level} of {name}. The broker wants a version between "
                            f"{low} and {high}, inclusive.")
        records: list = []
        fenced, in_controlled_shutdown = True, False
        if existing is not None and existing.incarnation_id == request.incarnation_id:
            epoch, fenced, in_controlled_shutdown = existing.epoch, existing.fenced, existing.in_controlled_shutdown
        else:
            epoch = image.offset + 1
            if existing is not None:
                epoch = max(epoch, existing.epoch + 1)
                records += fence_replica_changes(image, request.broker_id, self.topic_configs)
                log.info("Registering a new incarnation of broker %d. Generated %d record(s) to clean up "
                         "previous incarnations. Broker epoch will become %d.", request.broker_id,
                         len(records), epoch)
        record = RegisterBrokerRecord(
            broker_id=request.broker_id,
            incarnation_id=request.incarnation_id,
            broker_epoch=epoch,
            end_points=[BrokerEndpoint(name=e.name, host=e.host, port=e.port,
                                       security_protocol=e.security_protocol)
                        for e in request.listeners],
            features=[BrokerFeature(name=n, min_supported_version=lo, max_supported_version=hi)
                      for n, (lo, hi) in sorted(request.features.items())],
            rack=request.rack,
            fenced=fenced,
            in_controlled_shutdown=in_controlled_shutdown,
            log_dirs=list(request.log_dirs),
        )
        self.last_contact_ms[request.broker_id] = now_ms
        return ControllerResult(records + [record], BrokerRegistrationReply(NO_ERROR, epoch))

    # --- BrokerHeartbeat ----------------------------------------------------------------

    def heartbeat(self, image: MetadataImage, request: BrokerHeartbeatRequest,
                  now_ms: int) -> ControllerResult[BrokerHeartbeatReply]:
        """BrokerHeartbeat: renew the session and move the broker between states.

        Errors: STALE_BROKER_EPOCH when the broker is not registered with that epoch.
        """
        broker = image.brokers.get(request.broker_id)
        if broker is None or broker.epoch != request.broker_epoch:
            expected = "no registration" if broker is None else f"broker epoch {broker.epoch}"
            return ControllerResult([], BrokerHeartbeatReply(ApiError(
                ErrorCode.STALE_BROKER_EPOCH,
                f"Expected {expected}, but got broker epoch {request.broker_epoch}")))
        self.last_contact_ms[broker.id] = now_ms
        registered_at = self.registration_offsets.get(broker.id)
        caught_up = registered_at is not None and request.current_metadata_offset >= registered_at
        bid, epoch = broker.id, broker.epoch
        offline = self._directories_offline(image, broker, request.offline_log_dirs)
        if offline:
            result = self.heartbeat(image.apply(offline), request, now_ms)
            return ControllerResult(offline + list(result.records), result.response)

        if broker.fenced:
            if request.want_shutdown:
                return ControllerResult([], BrokerHeartbeatReply(NO_ERROR, caught_up, True, True))
            if not caught_up or request.want_fence:
                return ControllerResult([], BrokerHeartbeatReply(NO_ERROR, caught_up, True, False))
            records = [BrokerRegistrationChangeRecord(broker_id=bid, broker_epoch=epoch, fenced=_UNFENCE)]
            records += unfence_replica_changes(image.apply(records), bid, self.topic_configs)
            return ControllerResult(records, BrokerHeartbeatReply(NO_ERROR, True, False, False))

        if request.want_fence:
            records = _fence(image, bid, epoch, self.topic_configs)
            return ControllerResult(records, BrokerHeartbeatReply(NO_ERROR, caught_up, True, False))
        if request.want_shutdown or broker.in_controlled_shutdown:
            if not _leads_any(image, bid):
                records = _fence(image, bid, epoch, self.topic_configs)
                return ControllerResult(records, BrokerHeartbeatReply(NO_ERROR, caught_up, True, True))
            records = []
            if not broker.in_controlled_shutdown:
                records.append(BrokerRegistrationChangeRecord(
                    broker_id=bid, broker_epoch=epoch, in_controlled_shutdown=1))
            records += fence_replica_changes(image, bid, self.topic_configs)
            return ControllerResult(records, BrokerHeartbeatReply(NO_ERROR, caught_up, False, False))
        return ControllerResult([], BrokerHeartbeatReply(NO_ERROR, caught_up, False, False))

    # --- UnregisterBroker -----------------------------------------------------------------

    def unregister_broker(self, image: MetadataImage, broker_id: int) -> ControllerResult[ApiError]:
        """UnregisterBroker (``ReplicationControlManager.unregisterBroker``): the broker
        leaves every ISR and leadership, then its registration goes; an unknown id is
        BROKER_ID_NOT_REGISTERED."""
        broker = image.brokers.get(broker_id)
        if broker is None:
            return ControllerResult([], ApiError(
                ErrorCode.BROKER_ID_NOT_REGISTERED, f"Broker ID {broker_id} is not currently registered"))
        records = fence_replica_changes(image, broker_id, self.topic_configs)
        records.append(UnregisterBrokerRecord(broker_id=broker_id, broker_epoch=broker.epoch))
        return ControllerResult(records, NO_ERROR)

    def _directories_offline(self, image: MetadataImage, broker: BrokerRegistration,
                             offline_dirs: Sequence[Uuid]) -> list:
        """Kafka's ``handleDirectoriesOffline`` (KIP-858): the broker's replicas in newly
        failed directories leave their ISRs and leaderships, and its registration lists
        only the directories still online (LOST alone when none is: Kafka would have
        halted that broker; kafkapy keeps it serving what needs no directory)."""
        failed = [d for d in broker.log_dirs if d in set(offline_dirs)]
        if not failed:
            return []
        online = [d for d in broker.log_dirs if d not in failed]
        log.warning("Broker %d reported log directories offline: %s", broker.id, [d.hex() for d in failed])
        records = offline_dir_replica_changes(image, broker.id, failed, self.topic_configs)
        records.append(BrokerRegistrationChangeRecord(broker_id=broker.id, broker_epoch=broker.epoch,
                                                      log_dirs=online or [DIRECTORY_LOST]))
        return records

    # --- sessions -----------------------------------------------------------------------

    def fence_stale_brokers(self, image: MetadataImage, now_ms: int) -> ControllerResult[list[int]]:
        """Fence every unfenced broker whose session expired; the answer lists their ids.

        Each fence is computed on the image after the previous one, so leaders never move
        to a broker fenced in the same batch.
        """
        records: list = []
        fenced = []
        for broker_id in sorted(image.brokers):
            broker = image.brokers[broker_id]
            if broker.fenced or self.has_valid_session(broker, now_ms):
                continue
            these = _fence(image, broker_id, broker.epoch, self.topic_configs)
            image = image.apply(these)
            records += these
            fenced.append(broker_id)
        return ControllerResult(records, fenced)

    def next_session_expiry_ms(self, image: MetadataImage) -> int | None:
        """When the next unfenced broker's session runs out, or None if none can."""
        times = [self.last_contact_ms.get(b.id, 0) + self.session_timeout_ms
                 for b in image.brokers.values() if not b.fenced]
        return min(times) if times else None


def _fence(image: MetadataImage, broker_id: int, epoch: int, configs: TopicConfigView) -> list:
    """The records fencing ``broker_id``: its leaderships and ISR places first, then the
    registration change (Kafka's ``handleBrokerFenced`` order)."""
    records = fence_replica_changes(image, broker_id, configs)
    records.append(BrokerRegistrationChangeRecord(broker_id=broker_id, broker_epoch=epoch, fenced=_FENCE))
    return records


def _leads_any(image: MetadataImage, broker_id: int) -> bool:
    return any(p.leader == broker_id for t in image.topics_by_name.values() for p in t.partitions.values())
