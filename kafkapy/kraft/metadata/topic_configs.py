"""A topic's effective config as the controller sees it.

Kafka's ``ConfigurationControlManager.getTopicConfig``: the topic's own config in the
image, else the dynamic config of the controller's node, else the cluster-wide dynamic
default, else the controller's static ``server.properties``, else Kafka's default (the
synonym order of ``ServerTopicConfigSynonyms`` applies at each broker level). Elections
read ``unclean.leader.election.enable`` this way, so a topic config or a cluster default
altered at run time takes effect at the next election.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from kafkapy.config import (
    BROKER_CONFIGS,
    TOPIC_CONFIGS,
    BrokerConfig,
    BrokerConfigs,
    log_config_name,
    resolve_topic_config,
)
from kafkapy.kraft.metadata.image import EMPTY_MAP, MetadataImage

_UNCLEAN_LEADER_ELECTION = log_config_name("unclean_leader_election_enable")
#: Broker configs that supply a topic config's default (the only static ones that matter here).
_SYNONYMS = frozenset(s.name for d in TOPIC_CONFIGS.values() for s in d.synonyms)


class TopicConfigView(NamedTuple):
    """Resolves topic configs from an image plus the controller node's static settings.

    Attributes:
        node_id: the controller's node id, whose dynamic broker config is one source.
        static: the controller's static broker properties that are topic synonyms.
    """

    node_id: int = -1
    static: Mapping[str, str] = EMPTY_MAP

    @classmethod
    def from_broker_config(cls, config: BrokerConfig) -> TopicConfigView:
        return cls(config.node_id, {k: v for k, v in config.properties.items()
                                    if k in _SYNONYMS and k in BROKER_CONFIGS})

    def value(self, image: MetadataImage, topic: str, name: str) -> Any:
        """The typed effective value of topic config ``name`` for ``topic``."""
        broker = BrokerConfigs(
            static=self.static,
            dynamic_default=image.broker_configs(""),
            dynamic_broker=image.broker_configs(self.node_id) if self.node_id >= 0 else {},
        )
        return resolve_topic_config(name, image.topic_configs(topic), broker).value

    def unclean_leader_election(self, image: MetadataImage, topic: str) -> bool:
        """Whether ``topic`` allows a leader from outside its ISR."""
        return bool(self.value(image, topic, _UNCLEAN_LEADER_ELECTION))


#: Nothing set anywhere but the image: Kafka's defaults below the dynamic configs.
DEFAULT_TOPIC_CONFIGS = TopicConfigView()
