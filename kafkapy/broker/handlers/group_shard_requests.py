"""What the share-group (KIP-932) and streams-group (KIP-1071) heartbeats and describes
have in common: each kind's feature gate, and the way a request reaches the group's
coordinator shard and a refusal becomes the API's error. Not a handler module: the
handlers are :mod:`share_groups` and :mod:`streams_groups`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from kafkapy.broker.coordinator.shard import CoordinatorError
from kafkapy.broker.handlers.groups import client_host
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.context import RequestContext
    from kafkapy.broker.coordinator.runtime import CoordinatorRuntime
    from kafkapy.kraft.metadata.image import MetadataImage

R = TypeVar("R")


class GroupShards(Protocol):
    """A service whose groups live in coordinator shards (share and streams)."""

    groups: CoordinatorRuntime[Any]

    def group_partition(self, group_id: str) -> int: ...


def feature_enabled(image: MetadataImage, feature: str, since_metadata_version: int) -> bool:
    """Kafka's ``ShareVersion`` and ``StreamsVersion``: the groups need ``feature`` >= 1 on
    a cluster at ``since_metadata_version`` or later (where a new cluster finalizes it); on
    an older metadata version kafkapy serves them as Kafka 4.1's preview did when enabled."""
    if image.metadata_version < since_metadata_version:
        return True
    return image.features.get(feature, 0) >= 1


async def shard_heartbeat(ctx: RequestContext, service: GroupShards, request: Any, response_cls: Any, *,
                          enabled: bool, kind: str, answer: Callable[[Any], R] = lambda r: r,
                          validate: Callable[[Any], None] = lambda r: None) -> R:
    """The heartbeat written by the group's shard, then ``answer(result)``; with the kind's
    feature off UNSUPPORTED_VERSION as Kafka answers, and a refusal as the response's error.
    ``validate`` checks the request first (INVALID_REQUEST), before the shard may still be
    loading, as Kafka's GroupCoordinatorService does."""
    if not enabled:
        return response_cls(error_code=ErrorCode.UNSUPPORTED_VERSION,
                            error_message=f"The {kind} group feature is not enabled.")
    p = service.group_partition(request.group_id)
    host = client_host(ctx)
    try:
        validate(request)
        result = await service.groups.write(p, lambda shard: shard.heartbeat(request, ctx.client_id, host))
    except CoordinatorError as exc:
        return response_cls(error_code=exc.code, error_message=exc.message)
    return answer(result)


def shard_describe(service: GroupShards, group_ids: Iterable[str], described_cls: Any) -> list[Any]:
    """Each group as its shard describes it: INVALID_GROUP_ID for an empty id, the
    coordinator's error (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS) otherwise."""
    groups = []
    for group_id in group_ids:
        if not group_id:
            groups.append(described_cls(error_code=ErrorCode.INVALID_GROUP_ID, group_id=group_id))
            continue
        try:
            groups.append(service.groups.read(service.group_partition(group_id), lambda s: s.describe(group_id)))
        except CoordinatorError as exc:
            groups.append(described_cls(error_code=exc.code, group_id=group_id))
    return groups
