"""A streams group's topology checked against the metadata image: how many tasks each
subtopology has and which internal topics must exist (Kafka's ``InternalTopicManager``
and ``ConfiguredTopology``, KIP-1071).

* Source topics (and source topic regexes, matched whole against the image's topic
  names) must exist; otherwise status MISSING_SOURCE_TOPICS and no tasks.
* A subtopology has as many tasks as its largest source or repartition source topic
  has partitions. A repartition topic without a partition count takes the count of the
  subtopology writing to it (its repartition sink), resolved until nothing changes.
* Source topics of one copartition group must have the same partition count
  (INCORRECTLY_PARTITIONED_TOPICS); its repartition topics take that count.
* A changelog topic has its subtopology's task count.
* Internal topics (repartition and changelog) the image lacks are returned to be
  created with the topology's configs, and the status is MISSING_INTERNAL_TOPICS until
  they exist; an existing one with another partition count is
  INCORRECTLY_PARTITIONED_TOPICS.

Pure: a function of the topology record and the image.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kafkapy.broker.groups.coordinator_topics import InternalTopic

if TYPE_CHECKING:
    from kafkapy.kraft.metadata.image import MetadataImage
    from kafkapy.wire.messages.streams_group_topology_value import StreamsGroupTopologyValue

# StreamsGroupHeartbeatResponse.Status codes (KIP-1071).
STALE_TOPOLOGY = 0
MISSING_SOURCE_TOPICS = 1
INCORRECTLY_PARTITIONED_TOPICS = 2
MISSING_INTERNAL_TOPICS = 3
SHUTDOWN_APPLICATION = 4
ASSIGNMENT_DELAYED = 5


@dataclass(slots=True)
class ConfiguredTopology:
    """The outcome: ``partitions`` (subtopology id -> task count) is set when ready."""

    partitions: dict[str, int] | None
    status: list[tuple[int, str]] = field(default_factory=list)
    to_create: list[InternalTopic] = field(default_factory=list)
    source_topics: set[str] = field(default_factory=set)
    #: repartition topic -> partition count, once resolved
    repartition: dict[str, int] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.partitions is not None


def source_topics(topology: StreamsGroupTopologyValue, image: MetadataImage) -> set[str]:
    """The source topics of every subtopology, regexes resolved against the image."""
    names: set[str] = set()
    for s in topology.subtopologies:
        names.update(s.source_topics)
        for pattern in s.source_topic_regex:
            regex = re.compile(pattern)
            names.update(t for t in image.topics_by_name if regex.fullmatch(t))
    return names


def summarize_topics(names: Iterable[str]) -> str:
    """Kafka's ``InternalTopicManager.summarizeTopics``: the first three names (sorted),
    and how many more."""
    names = sorted(set(names))
    if not names:
        return "<none>"
    more = f" and {len(names) - 3} additional topics" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def configure(topology: StreamsGroupTopologyValue, image: MetadataImage) -> ConfiguredTopology:
    """The topology against ``image`` (see the module doc)."""
    def count(name: str) -> int | None:
        t = image.topic(name)
        return None if t is None else len(t.partitions)

    missing: list[str] = []
    sources: dict[str, list[str]] = {}
    for s in topology.subtopologies:
        names = list(s.source_topics)
        for pattern in s.source_topic_regex:
            regex = re.compile(pattern)
            matched = sorted(t for t in image.topics_by_name if regex.fullmatch(t))
            if not matched:
                missing.append(pattern)
            names.extend(matched)
        missing.extend(n for n in s.source_topics if count(n) is None)
        sources[s.subtopology_id] = names
    all_sources = {n for names in sources.values() for n in names}
    if missing:
        return ConfiguredTopology(None, [(MISSING_SOURCE_TOPICS, f"Source topics {summarize_topics(missing)} "
                                                                 "are missing.")], source_topics=all_sources)
    repartition: dict[str, int] = {}
    repartition_infos = {}
    for s in topology.subtopologies:
        for info in s.repartition_source_topics:
            repartition_infos[info.name] = info
            if info.partitions > 0:
                repartition[info.name] = info.partitions
    incorrect: list[str] = []
    for s in topology.subtopologies:
        for group in s.copartition_groups:
            names = [s.source_topics[i] for i in group.source_topics if i < len(s.source_topics)]
            counts = {count(n) for n in names}
            if len(counts) > 1:
                incorrect.extend(names)
            elif counts:
                n = counts.pop() or 0
                for i in group.repartition_source_topics:
                    if i < len(s.repartition_source_topics) and n > 0:
                        repartition.setdefault(s.repartition_source_topics[i].name, n)
    if incorrect:
        return ConfiguredTopology(None, [(INCORRECTLY_PARTITIONED_TOPICS, "Following topics are not copartitioned: "
                                          + ", ".join(sorted(set(incorrect))))], source_topics=all_sources)

    def task_count(s: object) -> int:
        counts = [count(n) or 0 for n in sources[s.subtopology_id]]  # type: ignore[attr-defined]
        counts += [repartition.get(i.name, 0) for i in s.repartition_source_topics]  # type: ignore[attr-defined]
        return max(counts, default=0)

    for _ in range(len(topology.subtopologies) + 1):
        changed = False
        for s in topology.subtopologies:
            n = task_count(s)
            for sink in s.repartition_sink_topics:
                if sink in repartition_infos and sink not in repartition and n > 0:
                    repartition[sink] = n
                    changed = True
        if not changed:
            break
    partitions = {s.subtopology_id: task_count(s) for s in topology.subtopologies}
    to_create: list[InternalTopic] = []
    for s in topology.subtopologies:
        wanted = [(i, repartition.get(i.name, 0)) for i in s.repartition_source_topics]
        wanted += [(i, partitions[s.subtopology_id]) for i in s.state_changelog_topics]
        for info, n in wanted:
            existing = count(info.name)
            if existing is None:
                if n > 0:
                    to_create.append(InternalTopic(info.name, n, info.replication_factor or -1,
                                                   {c.key: c.value for c in info.topic_configs}))
            elif existing != n and n > 0:
                incorrect.append(info.name)
    if incorrect:
        return ConfiguredTopology(None, [(INCORRECTLY_PARTITIONED_TOPICS, "Internal topics have the wrong number "
                                          "of partitions: " + ", ".join(sorted(set(incorrect))))],
                                  source_topics=all_sources)
    if to_create:
        names = summarize_topics(t.name for t in to_create)
        return ConfiguredTopology(None, [(MISSING_INTERNAL_TOPICS, f"Internal topics are missing: {names}")],
                                  to_create, source_topics=all_sources)
    return ConfiguredTopology(partitions, source_topics=all_sources, repartition=repartition)


def metadata_hash(image: MetadataImage, topics: Iterable[str]) -> int:
    """A 64-bit hash of the topics as the image has them (names, ids, partition counts):
    the role of Kafka's metadata hash (KIP-1101), compared only with itself."""
    h = hashlib.blake2b(digest_size=8)
    for name in sorted(set(topics)):
        t = image.topic(name)
        h.update(f"{name}\0{'' if t is None else t.id.hex()}\0{0 if t is None else len(t.partitions)}\0".encode())
    return int.from_bytes(h.digest(), "big", signed=True)
