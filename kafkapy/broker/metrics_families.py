"""The broker's metrics as the Prometheus JMX exporter names Kafka's: built at scrape time.

Names follow one rule set, prometheus/jmx_exporter ``example_configs/kafka-2_0_0.yml``
(``lowercaseOutputName: true``), applied to the MBean Kafka 4.1 registers for each:

- ``kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=T`` (a Meter's
  Count) -> ``kafka_server_brokertopicmetrics_messagesin_total{topic="T"}``; the
  all-topics MBean (no ``topic`` key) -> the same name without labels.
- ``kafka.network:type=RequestMetrics,name=RequestsPerSec,request=Produce,version=9``
  -> ``kafka_network_requestmetrics_requests_total{request,version}``; ``ErrorsPerSec``
  with ``request,error``; the ``TotalTimeMs`` histogram -> a summary
  ``kafka_network_requestmetrics_totaltimems{request,quantile="0.50".."0.999"}`` with
  ``_count`` (the rules' emulated summary) and ``_sum`` (which the rules lack).
- ``kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions`` (a Gauge's Value)
  -> ``kafka_server_replicamanager_underreplicatedpartitions``; ``IsrShrinksPerSec`` ->
  ``kafka_server_replicamanager_isrshrinks_total``.
- ``kafka.controller:type=KafkaController,name=ActiveControllerCount`` ->
  ``kafka_controller_kafkacontroller_activecontrollercount`` (controller nodes only, as
  Kafka registers them on controllers).
- ``kafka.coordinator.group:type=GroupMetadataManager,name=NumGroupsStable`` ->
  ``kafka_coordinator_group_groupmetadatamanager_numgroupsstable`` (classic groups, as
  Kafka 4's ``GroupCoordinatorMetrics`` keeps them).
- Consumer lag has no broker MBean; its names are danielqsj/kafka_exporter's:
  ``kafka_consumergroup_lag{consumergroup,topic,partition}`` and friends, for the groups
  this node coordinates and the partitions it hosts.
- ``kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent`` -> the share of
  time the node's one trio thread waited for I/O (it reads sockets and runs handlers
  alike), when the HTTP endpoint runs (:mod:`kafkapy.server.metrics_http`).
  ``RequestQueueSize`` has no meaning here: no shared queue sits between network and
  handler threads; each connection's task handles its requests in order.

A :class:`Family` is plain data; the HTTP endpoint hands it to ``prometheus_client`` and
the test fixtures read it as a dict (:func:`as_dict`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from kafkapy.broker.metrics import TOPIC_COUNTERS
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore

Labels = Mapping[str, str]

_GROUP_STATES = (("PreparingRebalance", "numgroupspreparingrebalance"),
                 ("CompletingRebalance", "numgroupscompletingrebalance"),
                 ("Stable", "numgroupsstable"), ("Dead", "numgroupsdead"), ("Empty", "numgroupsempty"))


@dataclasses.dataclass(slots=True)
class Family:
    """One metric: its name as exposed (counters end in ``_total``), Prometheus type, help
    and samples ``(sample name, labels, value)``."""

    name: str
    type: str
    help: str
    samples: list[tuple[str, Labels, float]] = dataclasses.field(default_factory=list)

    def add(self, value: float, labels: Labels | None = None, suffix: str = "") -> None:
        self.samples.append((self.name + suffix, labels or {}, float(value)))


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


def broker_families(core: BrokerCore) -> list[Family]:
    """Every family of this node: counters from ``core.metrics``, gauges from its state now."""
    families = _topic_families(core) + _request_families(core)
    if core.replicas is not None:
        families += _replica_families(core) + _group_families(core)
    if "controller" in core.config.process_roles:
        families += _controller_families(core)
    if core.remote_logs is not None:  # tiered storage (KIP-405)
        families += core.remote_logs.metric_families()
    return families


def _topic_families(core: BrokerCore) -> list[Family]:
    metrics = core.metrics
    metrics.retire_topics(core.image.topics_by_name)
    out = []
    for i, counter in enumerate(TOPIC_COUNTERS):
        family = Family(f"kafka_server_brokertopicmetrics_{counter}_total", "counter",
                        f"Kafka's BrokerTopicMetrics {counter} (all topics without a topic label)")
        total = metrics.retired[i]
        for topic, counters in sorted(metrics.topics.items()):
            family.add(counters[i], {"topic": topic})
            total += counters[i]
        family.add(total)
        out.append(family)
    replication = Family("kafka_server_brokertopicmetrics_replicationbytesout_total", "counter",
                         "Record bytes sent to follower replicas")
    replication.add(metrics.replication_bytes_out)
    out.append(replication)
    return out


def _request_families(core: BrokerCore) -> list[Family]:
    metrics = core.metrics
    requests = Family("kafka_network_requestmetrics_requests_total", "counter", "Requests by API and version")
    errors = Family("kafka_network_requestmetrics_errors_total", "counter",
                    "Error codes in responses by API (errorCounts, NONE included)")
    for stats in sorted(metrics.requests.values(), key=lambda s: s.name):
        for version, n in sorted(stats.by_version.items()):
            requests.add(n, {"request": stats.name, "version": str(version)})
        for code, n in sorted(stats.errors.items()):
            errors.add(n, {"request": stats.name, "error": _error_name(code)})
    total = Family("kafka_network_requestmetrics_totaltimems", "summary",
                   "Time from a request's arrival to its encoded response, ms (recent quantiles)")
    now = time.perf_counter()
    for name, times in sorted(metrics.times.items()):
        for quantile, value in times.quantiles_ms(now):
            total.add(value, {"request": name, "quantile": quantile})
        total.add(times.count, {"request": name}, "_count")
        total.add(times.sum_s * 1000.0, {"request": name}, "_sum")
    return [requests, errors, total]


def _replica_families(core: BrokerCore) -> list[Family]:
    replicas = core.replicas
    leaders = under_replicated = under_min_isr = at_min_isr = 0
    for partition in replicas.partitions.values():
        if not partition.is_leader:
            continue
        leaders += 1
        isr = len(partition.isr)
        if isr < len(partition.registration.replicas):
            under_replicated += 1
        min_isr = partition.log.config.min_insync_replicas
        if isr < min_isr:
            under_min_isr += 1
        elif isr == min_isr:
            at_min_isr += 1
    gauges = (("partitioncount", len(replicas.partitions), "Partitions hosted on this broker"),
              ("leadercount", leaders, "Partitions this broker leads"),
              ("underreplicatedpartitions", under_replicated, "Led partitions with an ISR smaller than their replicas"),
              ("underminisrpartitioncount", under_min_isr, "Led partitions whose ISR is below min.insync.replicas"),
              ("atminisrpartitioncount", at_min_isr, "Led partitions whose ISR is at min.insync.replicas"),
              ("offlinereplicacount", len(replicas.offline_partitions), "Replicas in an offline log directory"))
    out = []
    for name, value, help_ in gauges:
        family = Family(f"kafka_server_replicamanager_{name}", "gauge", help_)
        family.add(value)
        out.append(family)
    for name, value in (("isrshrinks", replicas.isr_shrinks), ("isrexpands", replicas.isr_expands)):
        family = Family(f"kafka_server_replicamanager_{name}_total", "counter", f"ISR {name[3:]} committed")
        family.add(value)
        out.append(family)
    return out


def _controller_families(core: BrokerCore) -> list[Family]:
    image = core.image
    service = getattr(core.metadata, "metadata", core.metadata)
    partitions = [p for topic in image.topics_by_name.values() for p in topic.partitions.values()]
    brokers = image.brokers.values()
    gauges = (
        ("activecontrollercount", int(bool(getattr(service, "is_active_controller", False))),
         "1 on the active controller"),
        ("globaltopiccount", len(image.topics_by_name), "Topics in the cluster"),
        ("globalpartitioncount", len(partitions), "Partitions in the cluster"),
        ("offlinepartitionscount", sum(1 for p in partitions if not p.has_leader), "Partitions without a leader"),
        ("preferredreplicaimbalancecount",
         sum(1 for p in partitions if p.replicas and p.leader != p.replicas[0]),
         "Partitions not led by their preferred replica"),
        ("activebrokercount", sum(1 for b in brokers if not b.fenced), "Unfenced brokers"),
        ("fencedbrokercount", sum(1 for b in brokers if b.fenced), "Fenced brokers"),
    )
    out = []
    for name, value, help_ in gauges:
        family = Family(f"kafka_controller_kafkacontroller_{name}", "gauge", help_)
        family.add(value)
        out.append(family)
    return out


def _group_families(core: BrokerCore) -> list[Family]:
    from kafkapy.broker.groups.classic_group import ClassicGroup
    from kafkapy.broker.replica_manager import TopicPartition

    groups = core.groups.groups
    classic = [g for g in groups.values() if isinstance(g, ClassicGroup)]
    prefix = "kafka_coordinator_group_groupmetadatamanager_"
    out = []
    family = Family(prefix + "numgroups", "gauge", "Classic groups this coordinator holds")
    family.add(len(classic))
    out.append(family)
    for state, name in _GROUP_STATES:
        family = Family(prefix + name, "gauge", f"Classic groups in state {state}")
        family.add(sum(1 for g in classic if g.state.value == state))
        out.append(family)
    family = Family(prefix + "numoffsets", "gauge", "Committed offsets this coordinator holds")
    family.add(sum(len(g.offsets) for g in groups.values()))
    out.append(family)

    # kafka_exporter's consumer group metrics, from the partitions this node hosts.
    members = Family("kafka_consumergroup_members", "gauge", "Members of a consumer group")
    current = Family("kafka_consumergroup_current_offset", "gauge", "Committed offset of a group's partition")
    lag = Family("kafka_consumergroup_lag", "gauge", "High watermark minus the committed offset")
    lag_sum = Family("kafka_consumergroup_lag_sum", "gauge", "A group's lag summed over a topic's partitions")
    partitions = core.replicas.partitions
    for group_id, group in sorted(groups.items()):
        if group.state.value == "Dead":
            continue
        members.add(len(group.members), {"consumergroup": group_id})
        sums: dict[str, int] = {}
        for (topic, index), committed in sorted(group.offsets.items()):
            labels = {"consumergroup": group_id, "topic": topic, "partition": str(index)}
            current.add(committed.offset, labels)
            hosted = partitions.get(TopicPartition(topic, index))
            if hosted is None:
                continue
            behind = max(hosted.log.high_watermark - committed.offset, 0)
            lag.add(behind, labels)
            sums[topic] = sums.get(topic, 0) + behind
        for topic, total in sorted(sums.items()):
            lag_sum.add(total, {"consumergroup": group_id, "topic": topic})
    return out + [members, current, lag, lag_sum]


def sample_key(name: str, labels: Labels) -> str:
    """A sample as Prometheus prints it: ``name{a="x",b="y"}`` (labels sorted), or ``name``."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def as_dict(families: Iterable[Family]) -> dict[str, float]:
    """Every sample of ``families`` by :func:`sample_key` (what the test fixtures return)."""
    return {sample_key(name, labels): value for family in families for name, labels, value in family.samples}


def parse_exposition(text: str) -> dict[str, float]:
    """A Prometheus text exposition (a /metrics body) as :func:`as_dict` keys: for
    reading a node's numbers over HTTP (``Cluster`` nodes, tests)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {sample_key(s.name, s.labels): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}

