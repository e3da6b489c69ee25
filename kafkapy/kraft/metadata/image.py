"""The metadata image: cluster metadata as of one offset of ``__cluster_metadata``.

Theory of operation: every change to cluster metadata is a record in the metadata log.
A node replays committed records, in order, into a :class:`MetadataDelta`
(``delta.py``) and turns the delta into a new :class:`MetadataImage`. Images are
immutable values: request handlers read ``service.image`` without locks, and an image
they hold stays consistent while newer ones are built.

Structural sharing keeps a new image cheap: a delta copies only the maps it touches,
so a change to one partition copies that topic's partition map and the two topic maps
(shallow), and every other ``TopicImage``, ``PartitionRegistration`` and
``BrokerRegistration`` object is shared with the previous image. The maps inside an
image are plain dicts for read speed; nothing may mutate them after the image is built
(invariant, not enforced).

The same image is what a snapshot holds: :meth:`MetadataImage.to_records` lists the
records that rebuild it from empty (``EMPTY_IMAGE.apply(records)``), which is
what a KIP-630 checkpoint file stores.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from kafkapy.kraft.metadata.acls import StandardAcl

if TYPE_CHECKING:
    from kafkapy.kraft.metadata.delta import MetadataDelta

#: Kafka's Uuid as the wire carries it: 16 bytes, big-endian most significant half first.
Uuid = bytes
#: Kafka's ``Uuid.ZERO_UUID``: "no id".
ZERO_UUID: Uuid = bytes(16)
#: Kafka's ``Uuid.METADATA_TOPIC_ID``: the id of ``__cluster_metadata`` itself.
METADATA_TOPIC_ID: Uuid = bytes(15) + b"\x01"
#: Kafka's ``DirectoryId.UNASSIGNED``: a replica whose log directory is not yet known.
DIRECTORY_UNASSIGNED: Uuid = ZERO_UUID

#: Partition.leader when the partition has no leader.
NO_LEADER = -1


class ConfigResourceType(enum.IntEnum):
    """Kafka's ``ConfigResource.Type`` codes, as ConfigRecord and the admin APIs carry them."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class LeaderRecoveryState(enum.IntEnum):
    """KIP-704: RECOVERING after an unclean election until the leader has recovered."""

    RECOVERED = 0
    RECOVERING = 1


#: The read-only empty mapping named tuples of the metadata take as a default.
EMPTY_MAP: Mapping = MappingProxyType({})


class Endpoint(NamedTuple):
    """One listener of a broker: the listener name and where it is reached."""

    name: str
    host: str
    port: int
    #: Kafka's SecurityProtocol id: PLAINTEXT 0, SSL 1, SASL_PLAINTEXT 2, SASL_SSL 3.
    security_protocol: int


class ControllerRegistration(NamedTuple):
    """A controller's listeners and supported features, from its RegisterControllerRecord
    (KIP-919, Kafka's ``ControllerRegistration``): how brokers and ``--bootstrap-controller``
    clients find the controllers, and what the active controller checks a feature
    upgrade against."""

    id: int
    incarnation_id: Uuid
    endpoints: Mapping[str, Endpoint]
    #: feature name -> (min supported level, max supported level)
    features: Mapping[str, tuple[int, int]] = EMPTY_MAP
    zk_migration_ready: bool = False


class BrokerRegistration(NamedTuple):
    """A registered broker, as the last RegisterBrokerRecord and its changes left it."""

    id: int
    epoch: int
    incarnation_id: Uuid
    endpoints: Mapping[str, Endpoint]
    #: feature name -> (min supported level, max supported level)
    features: Mapping[str, tuple[int, int]] = EMPTY_MAP
    rack: str | None = None
    fenced: bool = True
    in_controlled_shutdown: bool = False
    log_dirs: tuple[Uuid, ...] = ()

    @property
    def active(self) -> bool:
        """True when the broker may lead and join ISRs: unfenced, not shutting down."""
        return not self.fenced and not self.in_controlled_shutdown


class PartitionRegistration(NamedTuple):
    """The replica state of one partition (Kafka's ``PartitionRegistration``)."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int = NO_LEADER
    leader_epoch: int = 0
    partition_epoch: int = 0
    removing_replicas: tuple[int, ...] = ()
    adding_replicas: tuple[int, ...] = ()
    leader_recovery_state: LeaderRecoveryState = LeaderRecoveryState.RECOVERED
    directories: tuple[Uuid, ...] = ()
    elr: tuple[int, ...] = ()
    last_known_elr: tuple[int, ...] = ()

    def has_leader(self) -> bool:
        """True when some replica leads the partition."""
        return self.leader != NO_LEADER


#: A client quota entity: ``(entity type, name or None for the default)`` pairs sorted
#: by type, e.g. ``(("client-id", None), ("user", "alice"))``.
QuotaEntity = tuple[tuple[str, "str | None"], ...]


class ScramCredentialData(NamedTuple):
    """One user's SCRAM credential for one mechanism, as UserScramCredentialRecord
    holds it (Kafka's ``ScramCredentialData``): never the password."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


class TopicImage(NamedTuple):
    """A topic: its name, id and partitions by partition index."""

    name: str
    id: Uuid
    partitions: Mapping[int, PartitionRegistration] = EMPTY_MAP


class MetadataImage(NamedTuple):
    """Cluster metadata as of ``offset`` (the last applied record), in Raft epoch ``epoch``.

    Fields:
        cluster_id: from the node's ``meta.properties``; not a metadata record.
        offset, epoch: offset and Raft epoch of the last record applied; -1 when empty.
        features: finalized feature levels by name (``metadata.version`` ...).
        brokers: registrations by broker id.
        topics_by_name, topics_by_id: the same :class:`TopicImage` objects, two keys.
        configs: dynamic configs set through the log, by ``(resource type, name)``;
            broker resources use the broker id as a string, or "" for the cluster default.
        next_producer_id: the first producer id not yet handed out in a block.
        scram_credentials: SCRAM mechanism type (1: SCRAM-SHA-256, 2: SCRAM-SHA-512)
            -> user -> credential (Kafka's ``ScramImage``).
        acls: ACL id -> binding (Kafka's ``AclsImage``), in the order they were created.
        controllers: controller registrations by node id (Kafka's ``ClusterImage.controllers``).
        client_quotas: quota entity -> quota key -> value (Kafka's ``ClientQuotasImage``).
            An entity is its ``(entity type, name)`` pairs sorted by type, a None name
            being the type's default entity; entities without keys are dropped.
    """

    cluster_id: str | None = None
    offset: int = -1
    epoch: int = -1
    features: Mapping[str, int] = EMPTY_MAP
    brokers: Mapping[int, BrokerRegistration] = EMPTY_MAP
    topics_by_name: Mapping[str, TopicImage] = EMPTY_MAP
    topics_by_id: Mapping[Uuid, TopicImage] = EMPTY_MAP
    configs: Mapping[tuple[int, str], Mapping[str, str]] = EMPTY_MAP
    next_producer_id: int = 0
    scram_credentials: Mapping[int, Mapping[str, ScramCredentialData]] = EMPTY_MAP
    acls: Mapping[Uuid, StandardAcl] = EMPTY_MAP
    client_quotas: Mapping[QuotaEntity, Mapping[str, float]] = EMPTY_MAP
    controllers: Mapping[int, ControllerRegistration] = EMPTY_MAP

    # --- reads ------------------------------------------------------------------------

    @property
    def metadata_version(self) -> int:
        """The finalized ``metadata.version`` level, or 0 before bootstrap."""
        return self.features.get("metadata.version", 0)

    def topic(self, name: str) -> TopicImage | None:
        """The topic called ``name``, or None."""
        return self.topics_by_name.get(name)

    def partition(self, topic: str, partition: int) -> PartitionRegistration | None:
        """One partition of a topic by name, or None when either is unknown."""
        t = self.topics_by_name.get(topic)
        return None if t is None else t.partitions.get(partition)

    def topic_configs(self, name: str) -> Mapping[str, str]:
        """Dynamic configs of topic ``name`` (empty when none are set)."""
        return self.configs.get((ConfigResourceType.TOPIC, name), EMPTY_MAP)

    def broker_configs(self, broker: int | str) -> Mapping[str, str]:
        """Dynamic configs of one broker, or of the cluster default when ``broker`` is ""."""
        return self.configs.get((ConfigResourceType.BROKER, str(broker)), EMPTY_MAP)

    def scram_credential(self, user: str, mechanism: int) -> ScramCredentialData | None:
        """``user``'s credential for SCRAM ``mechanism`` (type id), or None."""
        return self.scram_credentials.get(mechanism, EMPTY_MAP).get(user)

    def unfenced_broker_ids(self) -> list[int]:
        """Ids of brokers that may host new replicas (unfenced, not shutting down), sorted."""
        return sorted(b.id for b in self.brokers.values() if b.active)

    # --- changes ----------------------------------------------------------------------

    def delta(self) -> MetadataDelta:
        """A delta on top of this image, to replay records into."""
        from kafkapy.kraft.metadata.delta import MetadataDelta

        return MetadataDelta(self)

    def apply(self, records: Iterable[object], *, offset: int | None = None,
              epoch: int | None = None) -> MetadataImage:
        """The image after ``records``, with ``offset``/``epoch`` of the last one.

        Raises:
            MetadataError: a record contradicts the image (a bug or a corrupt log).
        """
        delta = self.delta()
        for record in records:
            delta.replay(record)
        return delta.apply(offset=offset, epoch=epoch)

    def to_records(self) -> list[object]:
        """The records that rebuild this image from :data:`EMPTY_IMAGE` (a snapshot's content).

        Order matters to readers that apply as they go: features first (so
        ``metadata.version`` is known), then brokers, topics with their partitions,
        configs and producer ids, as Kafka's ``MetadataImage.write`` does.
        """
        from kafkapy.kraft.metadata.snapshot import image_records

        return image_records(self)


#: The image before any record: what a new node starts from.
EMPTY_IMAGE = MetadataImage()
