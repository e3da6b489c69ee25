"""The broker's registration with the controller, and its heartbeats.

Kafka's ``BrokerLifecycleManager``: the broker registers (BrokerRegistration) with
its advertised endpoints and supported features, gets a broker epoch, then
heartbeats with its metadata offset. The controller unfences it once it has caught
up with the log up to its own registration; only then may it lead partitions and
appear in Metadata answers. Heartbeats go on every ``broker.heartbeat.interval.ms``
so the controller keeps its session alive.

Log directories (KIP-858): the registration names this broker's directory id, and
once the directory fails every heartbeat names it in ``OfflineLogDirs`` (Kafka's
``BrokerLifecycleManager.propagateDirectoryFailure``, which heartbeats at once); the
controller then moves the leaderships and ISR places of its replicas there away.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import trio

from kafkapy.broker.core import BrokerCore
from kafkapy.kraft.metadata.cluster_control import BrokerHeartbeatRequest, BrokerRegistrationRequest
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.features import SUPPORTED_FEATURES
from kafkapy.kraft.metadata.image import Endpoint
from kafkapy.wire.error_codes import ErrorCode

log = logging.getLogger(__name__)

#: How often a fenced broker heartbeats while it waits to be unfenced (Kafka sends
#: the next heartbeat as soon as the previous one is answered while starting up).
_STARTUP_HEARTBEAT_S = 0.01
#: Backoff between registration attempts while an old incarnation is registered.
_REGISTRATION_RETRY_S = 0.5
#: Backoff between controlled-shutdown heartbeats that found no controller.
_SHUTDOWN_RETRY_S = 0.05


class BrokerLifecycle:
    """Registers this broker and keeps its session alive.

    Args:
        core: the broker; ``core.broker_epoch`` is set on registration.
        metadata: the metadata service, with ``register_broker``/``broker_heartbeat``.
        endpoints: the advertised endpoints (bound ports filled in).
    """

    def __init__(self, core: BrokerCore, metadata: Any, endpoints: Sequence[Endpoint]) -> None:
        self.core = core
        self.metadata = metadata
        self.endpoints = tuple(endpoints)
        self.incarnation_id = uuid.uuid4().bytes
        self.fenced = True
        #: Set once a controlled shutdown began: every heartbeat from then on asks to
        #: shut down (Kafka's lifecycle manager has one state), or a regular heartbeat
        #: after the controller fenced this broker would get it unfenced again.
        self.shutting_down = False
        #: set to heartbeat now instead of after the interval (a log directory failed)
        self._beat_now = trio.Event()

    def directory_failed(self, directory_id: str | None) -> None:
        """A log directory failed: tell the controller with the next heartbeat, now."""
        log.warning("Broker %d: log directory %s is offline; telling the controller", self.core.node_id,
                    directory_id)
        self._beat_now.set()

    def _log_dirs(self) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """(this broker's directory ids, those offline) as Uuids."""
        replicas = self.core.replicas
        logs = getattr(replicas, "logs", None)
        directory_id = getattr(logs, "directory_id", None)
        if not directory_id:
            return (), ()
        uuid_bytes = base64.urlsafe_b64decode(directory_id + "=" * (-len(directory_id) % 4))
        return (uuid_bytes,), ((uuid_bytes,) if logs.offline else ())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Register, wait to be unfenced (then report started), heartbeat until cancelled."""
        core = self.core
        image = core.image
        request = BrokerRegistrationRequest(
            broker_id=core.node_id,
            cluster_id=image.cluster_id or "",
            incarnation_id=self.incarnation_id,
            listeners=self.endpoints,
            features=dict(SUPPORTED_FEATURES),
            rack=core.config.broker_rack,
            log_dirs=self._log_dirs()[0],
            previous_broker_epoch=core.broker_epoch,
        )
        while True:
            try:
                reply = await self.metadata.register_broker(request)
            except NotControllerError as exc:
                # No controller known yet, or it moved or is unreachable: ask again.
                log.info("Broker %d: registration not accepted yet (%s); retrying", core.node_id, exc)
                await trio.sleep(_REGISTRATION_RETRY_S)
                continue
            if reply.error.code == ErrorCode.NOT_CONTROLLER:
                await trio.sleep(_REGISTRATION_RETRY_S)
                continue
            if reply.error.code != ErrorCode.DUPLICATE_BROKER_REGISTRATION:
                break
            # The previous incarnation's session is still alive (it stopped without a
            # controlled shutdown): retry until the controller fences it, as Kafka does.
            log.info("Broker %d: previous incarnation still registered; retrying", core.node_id)
            await trio.sleep(_REGISTRATION_RETRY_S)
        if reply.error.code != ErrorCode.NONE:
            raise RuntimeError(f"broker registration failed: {reply.error.code.name}: {reply.error.message}")
        core.broker_epoch = reply.broker_epoch
        log.info("Registered broker %d with epoch %d", core.node_id, reply.broker_epoch)
        started = False
        interval_s = core.config.broker_heartbeat_interval_ms / 1000
        while True:
            try:
                beat = await self.metadata.broker_heartbeat(BrokerHeartbeatRequest(
                    broker_id=core.node_id,
                    broker_epoch=core.broker_epoch,
                    current_metadata_offset=core.image.offset,
                    want_shutdown=self.shutting_down,
                    offline_log_dirs=self._log_dirs()[1],
                ))
            except NotControllerError as exc:
                # The controller moved or is unreachable; the next beat goes to the new one.
                log.info("Broker %d: heartbeat not delivered (%s)", core.node_id, exc)
                await trio.sleep(_REGISTRATION_RETRY_S)
                continue
            if beat.error.code != ErrorCode.NONE:
                log.warning("Broker heartbeat failed: %s", beat.error.code.name)
            self.fenced = beat.is_fenced
            if not started and not beat.is_fenced:
                started = True
                task_status.started()
            with trio.move_on_after(interval_s if started else _STARTUP_HEARTBEAT_S):
                await self._beat_now.wait()
            self._beat_now = trio.Event()

    async def controlled_shutdown(self) -> None:
        """Controlled shutdown: heartbeat ``want_shutdown`` until the controller, having
        moved this broker's leaderships away, fences it and answers ``should_shutdown``.

        A controller that cannot be reached is asked again while one may be elected
        (the active controller may be resigning at the same time); after
        ``controller.quorum.election.timeout.ms`` without one the broker gives up.
        """
        core = self.core
        if core.broker_epoch < 0:
            return
        self.shutting_down = True
        give_up_s = core.config.controller_quorum_election_timeout_ms / 1000
        unreachable_since: float | None = None
        while True:
            try:
                beat = await self.metadata.broker_heartbeat(BrokerHeartbeatRequest(
                    broker_id=core.node_id, broker_epoch=core.broker_epoch,
                    current_metadata_offset=core.image.offset, want_shutdown=True,
                ))
                if beat.error.code == ErrorCode.NOT_CONTROLLER:
                    raise NotControllerError("the controller moved", None)
            except NotControllerError as exc:
                now = trio.current_time()
                unreachable_since = now if unreachable_since is None else unreachable_since
                if now - unreachable_since >= give_up_s:
                    log.info("Broker %d: no controller for a controlled shutdown (%s)", core.node_id, exc)
                    return
                await trio.sleep(_SHUTDOWN_RETRY_S)
                continue
            unreachable_since = None
            if beat.error.code != ErrorCode.NONE or beat.should_shutdown:
                log.info("Broker %d: controlled shutdown %s", core.node_id,
                         "complete" if beat.should_shutdown else f"failed ({beat.error.code.name})")
                return
            await trio.sleep(_STARTUP_HEARTBEAT_S)
