"""ControllerRegistration (KIP-919): a controller's listeners and features in the log.

An Apache Kafka controller sends ControllerRegistration to the active controller once
it has caught up (``ControllerRegistrationManager``); the active controller checks the
finalised features against the controller's supported ranges and writes a
``RegisterControllerRecord`` (``ClusterControlManager.registerController``). Kafka's
brokers and ``--bootstrap-controller`` admin clients find the controllers through these
records (a Kafka controller's DescribeCluster lists the registered controllers only, and
an admin client sends its controller requests to the active one among them), so every
controller of a mixed quorum registers, kafkapy's included:
:class:`ControllerRegistrationManager` is Kafka's ``ControllerRegistrationManager``.
The image keeps the registrations (``MetadataImage.controllers``) and snapshots them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import trio

from kafkapy.kraft.metadata.features import METADATA_VERSION, METADATA_VERSION_4_4_IV2
from kafkapy.kraft.metadata.image import EMPTY_MAP, MetadataImage
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.wire.error_codes import ErrorCode

log = logging.getLogger(__name__)

#: MetadataVersion.IBP_3_7_IV0: the first level with controller registrations (KIP-919).
METADATA_VERSION_3_7_IV0 = 15


class ControllerEndpoint(NamedTuple):
    """One listener of a registering controller."""

    name: str
    host: str
    port: int
    security_protocol: int


class ControllerRegistrationRequest(NamedTuple):
    """What a ControllerRegistration v0 carries."""

    controller_id: int
    incarnation_id: bytes
    zk_migration_ready: bool
    listeners: Sequence[ControllerEndpoint]
    features: Mapping[str, tuple[int, int]] = EMPTY_MAP


def register_controller(image: MetadataImage, request: ControllerRegistrationRequest
                        ) -> ControllerResult[ApiError]:
    """The RegisterControllerRecord of ``request``, or UNSUPPORTED_VERSION when the
    controller cannot run a finalised feature level (Kafka's message words)."""
    from kafkapy.wire.messages.cluster_metadata.register_controller_record import RegisterControllerRecord

    for name, level in sorted(image.features.items()):
        low, high = request.features.get(name, (0, 0))
        if level and not low <= level <= high:
            return ControllerResult([], ApiError(
                ErrorCode.UNSUPPORTED_VERSION, f"Unable to register because the controller has an unsupported "
                f"version of {name}: it supports {low}-{high}, and the finalized level is {level}."))
    record = RegisterControllerRecord(
        controller_id=request.controller_id,
        incarnation_id=request.incarnation_id,
        zk_migration_ready=request.zk_migration_ready,
        end_points=[RegisterControllerRecord.ControllerEndpoint(
            name=e.name, host=e.host, port=e.port, security_protocol=e.security_protocol) for e in request.listeners],
        features=[RegisterControllerRecord.ControllerFeature(
            name=n, min_supported_version=lo, max_supported_version=hi)
            for n, (lo, hi) in sorted(request.features.items())])
    return ControllerResult([record], NO_ERROR)


def unregister_controller(image: MetadataImage, controller_id: int) -> ControllerResult[ApiError]:
    """UnregisterController (Kafka 4.4, ``ClusterControlManager.unregisterController``):
    the UnregisterControllerRecord of a registered controller; UNSUPPORTED_VERSION below
    4.4-IV2, CONTROLLER_ID_NOT_REGISTERED for an unknown id (Kafka's message words)."""
    from kafkapy.wire.messages.cluster_metadata.unregister_controller_record import UnregisterControllerRecord

    if image.features.get(METADATA_VERSION, 0) < METADATA_VERSION_4_4_IV2:
        return ControllerResult([], ApiError(
            ErrorCode.UNSUPPORTED_VERSION,
            "The current MetadataVersion is too old to support controller unregistration."))
    if controller_id not in image.controllers:
        return ControllerResult([], ApiError(
            ErrorCode.CONTROLLER_ID_NOT_REGISTERED, f"Controller ID {controller_id} is not currently registered."))
    return ControllerResult([UnregisterControllerRecord(controller_id=controller_id)], NO_ERROR)


class ControllerRegistrationManager:
    """Registers this controller with the active controller, once per process
    (incarnation), as Kafka's ``ControllerRegistrationManager``.

    Once the image is at a ``metadata.version`` with registrations (3.7-IV0) and a
    leader is known, and the image holds no registration of this incarnation, it sends
    ControllerRegistration to the active controller (through ``send``; when this node
    is the active controller, it runs the registration in its own metadata service).
    A refused or lost request is retried with a backoff up to ``max_backoff_s``; a new
    leader or image wakes it. It never ends by itself.

    Args:
        service: the node's :class:`~kafkapy.kraft.metadata.service.MetadataService`.
        node_id: this controller's ``node.id``.
        listeners: this controller's listener endpoints, once bound.
        features: the feature ranges this controller supports.
        send: sends a wire ControllerRegistrationRequest to the active controller and
            returns its answer; raises ``NotControllerError`` or ``OSError`` when it
            cannot be reached.
    """

    def __init__(self, service: Any, node_id: int, listeners: Callable[[], Sequence[ControllerEndpoint]],
                 features: Mapping[str, tuple[int, int]], send: Callable[[Any], Awaitable[Any]], *,
                 max_backoff_s: float = 5.0) -> None:
        self.service = service
        self.node_id = node_id
        self.incarnation_id = os.urandom(16)
        self._listeners = listeners
        self._features = dict(features)
        self._send = send
        self._max_backoff_s = max_backoff_s

    def registered(self) -> bool:
        """Whether the image holds this incarnation's registration."""
        current = self.service.image.controllers.get(self.node_id)
        return current is not None and current.incarnation_id == self.incarnation_id

    def _due(self) -> bool:
        image = self.service.image
        return (image.metadata_version >= METADATA_VERSION_3_7_IV0 and self.service.leader_id is not None
                and bool(self._listeners()) and not self.registered())

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        backoff = 0.1
        while True:
            changed = self.service.changed()
            if self._due():
                error = await self._register()
                if error is None:  # accepted: wait for the record in the image, or a new leader
                    backoff = 0.1
                    leader = self.service.leader_id
                    with trio.move_on_after(self._max_backoff_s):
                        while not self.registered() and self.service.leader_id == leader:
                            await self.service.changed().wait()
                    continue
                else:
                    log.info("Controller %d registration failed (%s); retrying in %.1f s", self.node_id,
                             error, backoff)
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
                    continue
            with trio.move_on_after(self._max_backoff_s):
                await changed.wait()

    async def _register(self) -> str | None:
        """One attempt; None when accepted, else why not."""
        from kafkapy.kraft.metadata.errors import NotControllerError
        from kafkapy.wire.messages.controller_registration import ControllerRegistrationRequest as Wire

        listeners = tuple(self._listeners())
        if self.service.is_active_controller:
            request = ControllerRegistrationRequest(self.node_id, self.incarnation_id, False, listeners, self._features)
            try:
                error = await self.service.register_controller(request)
            except NotControllerError as exc:
                return str(exc)
            return None if error.code == ErrorCode.NONE else f"{error.code.name}: {error.message}"
        message = Wire(controller_id=self.node_id, incarnation_id=self.incarnation_id, zk_migration_ready=False,
                       listeners=[Wire.Listener(name=e.name, host=e.host, port=e.port,
                                                security_protocol=e.security_protocol) for e in listeners],
                       features=[Wire.Feature(name=n, min_supported_version=lo, max_supported_version=hi)
                                 for n, (lo, hi) in sorted(self._features.items())])
        try:
            answer = await self._send(message)
        except (NotControllerError, OSError) as exc:
            return str(exc)
        if answer.error_code != ErrorCode.NONE:
            return f"{ErrorCode(answer.error_code).name}: {answer.error_message}"
        return None
