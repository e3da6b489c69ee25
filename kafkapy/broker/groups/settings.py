"""A group's effective settings: the group configs set on its GROUP resource
(IncrementalAlterConfigs, ``kafka-configs --entity-type groups``) over the broker's.

Read at each use, as Kafka's ``GroupMetadataManager`` asks its ``GroupConfigManager``
(``consumerGroupSessionTimeoutMs(groupId)`` and alike), so a change applies to the
group's next heartbeat without a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafkapy.config import group_setting
from kafkapy.kraft.metadata.image import ConfigResourceType

if TYPE_CHECKING:
    from kafkapy.config import BrokerConfig
    from kafkapy.kraft.metadata.image import MetadataImage


def group_value(image: MetadataImage, config: BrokerConfig, group_id: str, name: str) -> Any:
    """The value of group config ``name`` for ``group_id``: its own, else the broker's."""
    return group_setting(config, image.configs.get((ConfigResourceType.GROUP, group_id), {}), name)
