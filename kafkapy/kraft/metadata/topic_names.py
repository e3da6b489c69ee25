"""Topic name rules, as Kafka's ``org.apache.kafka.common.internals.Topic``."""

from __future__ import annotations

import re

#: Kafka's Topic.MAX_NAME_LENGTH.
MAX_NAME_LENGTH = 249
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+\Z")

CLUSTER_METADATA_TOPIC = "__cluster_metadata"
GROUP_METADATA_TOPIC = "__consumer_offsets"
TRANSACTION_STATE_TOPIC = "__transaction_state"
SHARE_GROUP_STATE_TOPIC = "__share_group_state"
INTERNAL_TOPICS = frozenset({GROUP_METADATA_TOPIC, TRANSACTION_STATE_TOPIC, SHARE_GROUP_STATE_TOPIC})


def topic_name_error(name: str | None) -> str | None:
    """Why ``name`` is not a legal topic name, or None when it is (Topic.validate)."""
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return "Topic name cannot be \".\" or \"..\""
    if len(name) > MAX_NAME_LENGTH:
        return (f"Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} "
                "characters, topic name: " + name)
    if not _LEGAL.match(name):
        return (f"Topic name \"{name}\" is illegal, it contains a character other than "
                "ASCII alphanumerics, '.', '_' and '-'")
    return None


def unify_collision_chars(name: str) -> str:
    """The name with '.' read as '_': two names equal under this collide in metric names."""
    return name.replace(".", "_")


def is_internal(name: str) -> bool:
    """True for the topics Kafka marks internal in Metadata responses."""
    return name in INTERNAL_TOPICS
