"""Formatting a node's directories, as ``kafka-storage format`` does (Kafka's ``Formatter``).

Every directory of ``log.dirs`` and ``metadata.log.dir`` gets a ``meta.properties``
(version 1: ``cluster.id``, ``node.id`` and a random ``directory.id``) and a
``bootstrap.checkpoint``: a snapshot-format file (header control batch, one batch of
FeatureLevelRecords, footer) holding the feature levels the cluster starts at. With
``--standalone`` or ``--initial-controllers`` (a KIP-853 dynamic quorum) the metadata
directory also gets the bootstrap snapshot ``__cluster_metadata-0/
00000000000000000000-0000000000.checkpoint`` holding the ``kraft.version`` and the
``VotersRecord`` of the initial controllers; its voter's ``directory.id`` is the one
given for this node. ``--add-scram`` credentials go into ``bootstrap.checkpoint`` after
the feature levels. Already formatted directories fail the format unless
``--ignore-formatted``. Messages are Kafka 4.1's.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kafkapy.kraft.metadata.features import KRAFT_VERSION, METADATA_VERSION, METADATA_VERSION_DEFAULT
from kafkapy.tools.versions import (
    FEATURE_MAX,
    default_level,
    metadata_version_level,
    release_name,
)

BOOTSTRAP_CHECKPOINT = "bootstrap.checkpoint"
META_PROPERTIES = "meta.properties"
META_PROPERTIES_VERSION = "1"
#: The snapshot id of a bootstrap snapshot (Kafka's ``Snapshots.BOOTSTRAP_SNAPSHOT_ID``).
BOOTSTRAP_SNAPSHOT_NAME = "00000000000000000000-0000000000.checkpoint"
METADATA_PARTITION_DIR = "__cluster_metadata-0"
#: ``MetadataVersion.IBP_3_5_IV2``, the first that carries UserScramCredentialRecord.
SCRAM_MIN_METADATA_VERSION = 11
#: ``Uuid.RESERVED``: ZERO, ONE (the metadata topic id) and the two directory markers.
_RESERVED_UUIDS = {bytes(16), bytes(15) + b"\x01", bytes(15) + b"\x02", bytes(15) + b"\x03"}


class FormatterError(Exception):
    """A format that cannot go on; the tool prints the message and exits 1
    (Kafka's ``FormatterException`` / ``TerseFailure``)."""


def random_uuid() -> str:
    """``Uuid.randomUuid``: 16 random bytes as URL-safe base64 without padding, never a
    reserved id and never starting with ``-`` (it would read as a command-line flag)."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if raw not in _RESERVED_UUIDS and not text.startswith("-"):
            return text


def parse_uuid(text: str) -> bytes:
    """``Uuid.fromString``: 22 characters of URL-safe base64 decoding to 16 bytes.

    Raises:
        ValueError: anything else.
    """
    if len(text) != 22:
        raise ValueError(f"Input string with prefix `{text[:22]}` is too long to be decoded as a base64 UUID"
                         if len(text) > 22 else f"Input string `{text}` decoded as {len(text) * 6 // 8} bytes, "
                         "which is not equal to the expected 16 bytes of a base64-encoded UUID")
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except ValueError as exc:
        raise ValueError(f"Input string `{text}` is not a valid base64 UUID") from exc
    if len(raw) != 16:
        raise ValueError(f"Input string `{text}` decoded as {len(raw)} bytes, which is not equal to the "
                         "expected 16 bytes of a base64-encoded UUID")
    return raw


@dataclasses.dataclass(frozen=True, slots=True)
class DynamicVoter:
    """One ``id@host:port:directory`` of ``--initial-controllers`` (Kafka's ``DynamicVoter``)."""

    node_id: int
    host: str
    port: int
    directory_id: str


def parse_dynamic_voter(text: str) -> DynamicVoter:
    """Parse ``id@host:port:directoryId`` (``[host]`` for IPv6), with Kafka's messages.

    Raises:
        ValueError: the entry is malformed.
    """
    text = text.strip()
    at = text.find("@")
    if at < 0:
        raise ValueError("No @ found in dynamic voter string.")
    if at == 0:
        raise ValueError("Invalid @ at beginning of dynamic voter string.")
    try:
        node_id = int(text[:at])
    except ValueError:
        raise ValueError("Failed to parse node id in dynamic voter string.") from None
    if node_id < 0:
        raise ValueError(f"Invalid negative node id {node_id} in dynamic voter string.")
    rest = text[at + 1:]
    if not rest:
        raise ValueError("No hostname found after node id.")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ValueError("Hostname began with left bracket, but no right bracket was found.")
        host, rest = rest[1:end], rest[end + 1:]
    else:
        colon = rest.find(":")
        if colon < 0:
            raise ValueError("No colon following hostname could be found.")
        host, rest = rest[:colon], rest[colon:]
    if not rest.startswith(":"):
        raise ValueError("Port section must start with a colon.")
    rest = rest[1:]
    colon = rest.find(":")
    if colon < 0:
        raise ValueError("No colon following port could be found.")
    try:
        port = int(rest[:colon])
    except ValueError:
        raise ValueError("Failed to parse port in dynamic voter string.") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"Invalid port {port} in dynamic voter string.")
    directory_id = rest[colon + 1:]
    try:
        parse_uuid(directory_id)
    except ValueError:
        raise ValueError("Failed to parse directory ID in dynamic voter string.") from None
    return DynamicVoter(node_id, host, port, directory_id)


def parse_dynamic_voters(text: str) -> dict[int, DynamicVoter]:
    """``--initial-controllers``: comma-separated :func:`parse_dynamic_voter` entries by id.

    Raises:
        ValueError: a malformed entry, none at all, or an id given twice.
    """
    voters: dict[int, DynamicVoter] = {}
    for entry in text.strip().split(","):
        if not entry:
            continue
        voter = parse_dynamic_voter(entry)
        if voter.node_id in voters:
            raise ValueError(f"Node id {voter.node_id} was specified more than once.")
        voters[voter.node_id] = voter
    if not voters:
        raise ValueError("No voters given.")
    return dict(sorted(voters.items()))


def read_properties_file(path: str) -> dict[str, str] | None:
    """A ``meta.properties`` file's keys, or None when it does not exist."""
    from kafkapy.cli import parse_properties

    try:
        with open(path, encoding="latin-1") as f:
            return parse_properties(f.read())
    except FileNotFoundError:
        return None


def write_meta_properties(directory: str, props: Mapping[str, str]) -> None:
    """Write ``meta.properties`` as ``PropertiesUtils.writePropertiesFile`` does: Java's
    ``Properties.store`` (a ``#`` line, the date, then the keys), to a temporary file
    that is fsynced and renamed into place."""
    from kafkapy.storage.checkpoint import write_atomically

    stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
    lines = ["#", f"#{stamp}", *(f"{key}={value}" for key, value in props.items())]
    write_atomically(os.path.join(directory, META_PROPERTIES), "\n".join(lines) + "\n")


def _bootstrap_records(levels: Mapping[str, int], extra_records: Iterable[Any]) -> list[Any]:
    """The bootstrap metadata's records: FeatureLevelRecords (``metadata.version`` first,
    then every other feature above level 0, by name; ``kraft.version`` is a Raft control
    record, never one of them), then ``extra_records`` (``--add-scram`` credentials)."""
    from kafkapy.kraft.metadata.records import FeatureLevelRecord

    records = [FeatureLevelRecord(name=METADATA_VERSION, feature_level=levels[METADATA_VERSION])]
    records += [FeatureLevelRecord(name=name, feature_level=level) for name, level in sorted(levels.items())
                if name not in (METADATA_VERSION, KRAFT_VERSION) and level > 0]
    return records + list(extra_records)


def bootstrap_checkpoint_bytes(levels: Mapping[str, int], timestamp_ms: int,
                               extra_records: Iterable[Any] = ()) -> bytes:
    """``bootstrap.checkpoint``: the bootstrap records in Kafka's snapshot layout
    (``BootstrapDirectory``)."""
    from kafkapy.kraft.metadata.records import encode_record
    from kafkapy.kraft.raft.batches import KafkaSnapshotCodec
    from kafkapy.kraft.raft.messages import OffsetAndEpoch
    from kafkapy.kraft.raft.snapshot import SnapshotContent

    records = tuple(encode_record(record) for record in _bootstrap_records(levels, extra_records))
    content = SnapshotContent(OffsetAndEpoch(0, 0), None, records, kraft_version=0,
                              last_contained_log_timestamp=timestamp_ms)
    return KafkaSnapshotCodec().encode(content)


def _java_bytes(data: bytes) -> str:
    """``Arrays.toString(byte[])``: signed bytes."""
    return "[" + ", ".join(str(b - 256 if b > 127 else b) for b in data) + "]"


def _java_record_text(record: Any) -> str:
    """The generated ``toString`` of a bootstrap record (FeatureLevelRecord or
    UserScramCredentialRecord, both written at version 0)."""
    from kafkapy.kraft.metadata.records import FeatureLevelRecord

    if isinstance(record, FeatureLevelRecord):
        text = f"FeatureLevelRecord(name='{record.name}', featureLevel={record.feature_level})"
    else:
        text = (f"UserScramCredentialRecord(name='{record.name}', mechanism={record.mechanism}, "
                f"salt={_java_bytes(record.salt)}, storedKey={_java_bytes(record.stored_key)}, "
                f"serverKey={_java_bytes(record.server_key)}, iterations={record.iterations})")
    return f"ApiMessageAndVersion({text} at version 0)"


def bootstrap_metadata_text(levels: Mapping[str, int], extra_records: Iterable[Any] = ()) -> str:
    """``BootstrapMetadata.toString`` of a format command, which Kafka 4.4's
    ``Formatter`` prints before it writes the directories."""
    records = ", ".join(_java_record_text(r) for r in _bootstrap_records(levels, extra_records))
    return (f"BootstrapMetadata(records=[{records}], metadataVersionLevel={levels[METADATA_VERSION]}, "
            "source=format command)")


def voters_snapshot_bytes(voters: Mapping[int, DynamicVoter], listener: str, kraft_version: int,
                          timestamp_ms: int) -> bytes:
    """The bootstrap snapshot of a dynamic quorum: ``kraft.version`` and the initial
    voters, each on ``listener`` (``Formatter.writeDynamicQuorumSnapshot``)."""
    from kafkapy.kraft.raft.batches import KafkaSnapshotCodec
    from kafkapy.kraft.raft.messages import OffsetAndEpoch
    from kafkapy.kraft.raft.records import Endpoint, Voter
    from kafkapy.kraft.raft.snapshot import SnapshotContent
    from kafkapy.kraft.raft.voters import VoterSet

    voter_set = VoterSet(Voter(v.node_id, v.directory_id, (Endpoint(listener, v.host, v.port),))
                         for v in voters.values())
    content = SnapshotContent(OffsetAndEpoch(0, 0), voter_set, (), kraft_version=kraft_version,
                              last_contained_log_timestamp=timestamp_ms)
    return KafkaSnapshotCodec().encode(content)


def _write_file(path: str, data: bytes) -> None:
    """Write ``path`` through a temporary file, fsynced and renamed into place."""
    from kafkapy.storage.checkpoint import fsync_dir

    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


@dataclasses.dataclass
class Formatter:
    """One run of ``kafkapy storage format`` (Kafka's ``Formatter``).

    Args:
        node_id: ``node.id``.
        cluster_id: ``--cluster-id``.
        directories: ``log.dirs`` and ``metadata.log.dir``.
        metadata_log_dir: ``metadata.log.dir`` (else the first of ``log.dirs``).
        controller_listener: the first of ``controller.listener.names``.
        release_version: ``--release-version`` (None: 4.1-IV1, ``METADATA_VERSION_DEFAULT``).
        features: ``--feature name=level`` pairs.
        initial_controllers: ``--initial-controllers`` / ``--standalone`` voters.
        ignore_formatted: ``--ignore-formatted``.
        scram_records: ``--add-scram`` credentials (UserScramCredentialRecords).
        out: where progress lines go (standard output in the tool).
    """

    node_id: int
    cluster_id: str
    directories: Iterable[str]
    metadata_log_dir: str
    controller_listener: str = "CONTROLLER"
    release_version: str | None = None
    features: Mapping[str, int] = dataclasses.field(default_factory=dict)
    initial_controllers: Mapping[int, DynamicVoter] | None = None
    ignore_formatted: bool = False
    static_voters: bool = True
    scram_records: Sequence[Any] = ()
    out: Callable[[str], None] = print

    def effective_levels(self) -> dict[str, int]:
        """Every feature's starting level (``calculateEffectiveFeatureLevels``).

        Raises:
            FormatterError: an unknown feature, an unsupported level, or a
                ``kraft.version`` that contradicts the quorum's kind.
        """
        if METADATA_VERSION in self.features:
            if self.release_version is not None:
                raise FormatterError(f"Use --release-version instead of --feature {METADATA_VERSION}=X "
                                     "to avoid ambiguity.")
            metadata_version = self.features[METADATA_VERSION]
            if release_name(metadata_version).startswith("level"):
                raise FormatterError(f"Unknown metadata.version {metadata_version}")
        elif self.release_version is not None:
            try:
                metadata_version = metadata_version_level(self.release_version)
            except ValueError as exc:
                raise FormatterError(str(exc)) from None
        else:
            metadata_version = METADATA_VERSION_DEFAULT
        levels = {METADATA_VERSION: metadata_version}
        for name, level in self.features.items():
            if name == METADATA_VERSION:
                continue
            if name not in FEATURE_MAX:
                raise FormatterError(f"Unsupported feature: {name}. Supported features are: "
                                     f"{', '.join(sorted(FEATURE_MAX))}")
            if not 0 <= level <= FEATURE_MAX[name]:
                raise FormatterError(f"No feature:{name} with feature level {level}")
            levels[name] = level
        for name in FEATURE_MAX:
            if name == KRAFT_VERSION:
                levels[name] = self._kraft_version(levels.get(name))
            elif name not in levels:
                levels[name] = default_level(name, metadata_version)
        return levels

    def _kraft_version(self, configured: int | None) -> int:
        dynamic = self.initial_controllers is not None or not self.static_voters
        if configured is None:
            return 1 if dynamic else 0
        if configured == 0 and dynamic:
            raise FormatterError("Cannot set kraft.version to 0 if controller.quorum.voters is empty and one of "
                                 "the flags --standalone, --initial-controllers, or --no-initial-controllers is "
                                 "used. For dynamic controllers support, try removing the --feature flag for "
                                 "kraft.version.")
        if configured > 0 and not dynamic:
            raise FormatterError(f"Cannot set kraft.version to {configured} unless controller.quorum.voters is "
                                 "empty and one of the flags --standalone, --initial-controllers, or "
                                 "--no-initial-controllers is used. For dynamic controllers support, try using one "
                                 "of --standalone, --initial-controllers, or --no-initial-controllers and removing "
                                 "controller.quorum.voters.")
        return configured

    def run(self) -> None:
        """Format every unformatted directory.

        Raises:
            FormatterError: a formatted directory without ``--ignore-formatted``,
                another cluster or node in one, or bad feature settings.
        """
        directories = sorted(set(self.directories) | {self.metadata_log_dir})
        levels = self.effective_levels()
        if self.scram_records and levels[METADATA_VERSION] < SCRAM_MIN_METADATA_VERSION:
            raise FormatterError(f"SCRAM is only supported in {METADATA_VERSION} "
                                 f"{release_name(SCRAM_MIN_METADATA_VERSION)} or later.")
        formatted: dict[str, dict[str, str]] = {}
        empty: list[str] = []
        for directory in directories:
            try:
                props = read_properties_file(os.path.join(directory, META_PROPERTIES))
            except OSError:
                self.out(f"I/O error trying to read log directory {directory}. Ignoring...")
                continue
            if props is None:
                empty.append(directory)
            else:
                formatted[directory] = props
        for directory, props in formatted.items():
            path = os.path.join(directory, META_PROPERTIES)
            if props.get("cluster.id") != self.cluster_id:
                raise FormatterError(f"Invalid cluster.id in: {path}. Expected {self.cluster_id}, but read "
                                     f"{props.get('cluster.id')}")
            if props.get("node.id") != str(self.node_id):
                raise FormatterError(f"Stored node id {props.get('node.id')} doesn't match previous node id "
                                     f"{self.node_id} in {path}. If you moved your data, make sure your configured "
                                     "node id matches. If you intend to create a new node, you should remove all "
                                     "data in your data directories.")
        if formatted and not self.ignore_formatted:
            raise FormatterError(f"Log directory {min(formatted)} is already formatted. Use --ignore-formatted to "
                                 "ignore this directory and format the others.")
        if not empty:
            if not formatted:
                raise FormatterError("No available log directories to format.")
            self.out("All of the log directories are already formatted.")
            return
        self.out(f"Bootstrap metadata: {bootstrap_metadata_text(levels, self.scram_records)}")
        now_ms = time.time_ns() // 1_000_000
        bootstrap = bootstrap_checkpoint_bytes(levels, now_ms, self.scram_records)
        used_ids = {props.get("directory.id") for props in formatted.values()}
        release = release_name(levels[METADATA_VERSION])
        # Kafka writes the directories from a hash map: data directories come out in no
        # fixed order; the metadata directory is written last here.
        for directory in sorted(empty, key=lambda d: (d == self.metadata_log_dir, d)):
            kind = self._directory_type(directory)
            if kind == "dynamic metadata voter directory":
                assert self.initial_controllers is not None
                directory_id = self.initial_controllers[self.node_id].directory_id
            else:
                directory_id = random_uuid()
                while directory_id in used_ids:
                    directory_id = random_uuid()
            used_ids.add(directory_id)
            self.out(f"Formatting {kind} {directory} with {METADATA_VERSION} {release}.")
            os.makedirs(directory, exist_ok=True)
            _write_file(os.path.join(directory, BOOTSTRAP_CHECKPOINT), bootstrap)
            if kind.startswith("dynamic") and self.initial_controllers is not None:
                metadata_dir = os.path.join(directory, METADATA_PARTITION_DIR)
                os.makedirs(metadata_dir, exist_ok=True)
                _write_file(os.path.join(metadata_dir, BOOTSTRAP_SNAPSHOT_NAME), voters_snapshot_bytes(
                    self.initial_controllers, self.controller_listener, levels[KRAFT_VERSION], now_ms))
            write_meta_properties(directory, {"node.id": str(self.node_id), "directory.id": directory_id,
                                              "version": META_PROPERTIES_VERSION, "cluster.id": self.cluster_id})

    def _directory_type(self, directory: str) -> str:
        """``Formatter.DirectoryType.description``."""
        if directory != self.metadata_log_dir:
            return "data directory"
        if self.initial_controllers is None:
            return "metadata directory"
        if self.node_id in self.initial_controllers:
            return "dynamic metadata voter directory"
        return "dynamic metadata directory"


__all__ = [
    "BOOTSTRAP_CHECKPOINT", "DynamicVoter", "Formatter", "FormatterError", "META_PROPERTIES",
    "bootstrap_checkpoint_bytes", "parse_dynamic_voters", "random_uuid", "read_properties_file",
]
