"""ControllerRegistration (KIP-919): a controller's listeners and features in the log.

An Apache Kafka controller sends ControllerRegistration to the active controller once
it has caught up (``ControllerRegistrationManager``); the active controller checks the
finalised features against the controller's supported ranges and writes a
``RegisterControllerRecord`` (``ClusterControlManager.registerController``). Kafka's
brokers and ``--bootstrap-controller`` admin clients find the controllers through these
records, so a kafkapy controller leading a quorum with Kafka voters must write them.
kafkapy's own controllers reach each other through ``controller.quorum.voters`` and
do not register; the image keeps nothing of the record (``delta``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.wire.error_codes import ErrorCode


@dataclass(frozen=True, slots=True)
class ControllerEndpoint:
    """One listener of a registering controller."""

    name: str
    host: str
    port: int
    security_protocol: int


@dataclass(frozen=True, slots=True)
class ControllerRegistrationRequest:
    """What a ControllerRegistration v0 carries."""

    controller_id: int
    incarnation_id: bytes
    zk_migration_ready: bool
    listeners: Sequence[ControllerEndpoint]
    features: Mapping[str, tuple[int, int]] = field(default_factory=dict)


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
