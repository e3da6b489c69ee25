"""A node's directories at start: formatted, one cluster, this node (``KafkaRaftServer.initializeLogDirs``).

Kafka reads ``meta.properties`` from every directory of ``log.dirs`` and
``metadata.log.dir`` and refuses to start without one ("No readable meta.properties
files found."), or when they name different clusters, or another node; directories
without one are formatted like the others (a new disk). Its bootstrap metadata comes
from the metadata directory's ``bootstrap.checkpoint`` (``BootstrapDirectory``), and
without one from the latest metadata version.

kafkapy does the same, with one convenience Kafka lacks: a node that is the only voter
of its quorum (the quick start, the test fixtures) formats empty directories itself,
with a new cluster id, as ``kafkapy storage format --cluster-id $(kafkapy storage
random-uuid)`` would; nodes of a larger quorum must be formatted with a shared cluster
id first, or each would elect itself in a cluster of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

from kafkapy.tools.formatter import (
    BOOTSTRAP_CHECKPOINT,
    META_PROPERTIES,
    Formatter,
    random_uuid,
    read_properties_file,
    write_meta_properties,
)

log = logging.getLogger(__name__)


class StorageNotFormatted(ValueError):
    """The node's directories are not formatted and it cannot format them itself."""


@dataclasses.dataclass(frozen=True, slots=True)
class NodeStorage:
    """What a node's directories say about it.

    Attributes:
        cluster_id: the ``cluster.id`` of every ``meta.properties``.
        directory_ids: ``directory.id`` by directory.
        bootstrap: the records of ``bootstrap.checkpoint`` (feature levels, SCRAM credentials), or
            None to use the latest metadata version's.
    """

    cluster_id: str
    directory_ids: dict[str, str]
    bootstrap: list[Any] | None
    metadata_directory_id: str | None = None


def storage_directories(config: Any) -> list[str]:
    """``log.dirs`` plus ``metadata.log.dir``, sorted (``StorageTool.configToLogDirectories``)."""
    return sorted(set(config.data_dirs) | {metadata_log_dir(config)})


def metadata_log_dir(config: Any) -> str:
    """``metadata.log.dir``, else the first of ``log.dirs`` (``KafkaConfig.metadataLogDir``)."""
    return str(config.metadata_log_dir or config.data_dirs[0])


def formats_itself(config: Any) -> bool:
    """Whether a node may format its own empty directories: it is a controller and the
    only voter of a static quorum (``controller.quorum.voters`` naming it alone)."""
    from kafkapy.kraft.raft.network import parse_quorum_voters

    voters = parse_quorum_voters(config.controller_quorum_voters)
    return ("controller" in config.process_roles and set(voters) == {config.node_id}
            and not config.controller_quorum_bootstrap_servers)


def unformatted_message(directories: list[str]) -> str:
    """Kafka's refusal, and how to format the directories."""
    return ("No readable meta.properties files found in " + ", ".join(directories) + ". "
            "Every node of a cluster starts from directories formatted with the cluster's id (only the sole "
            "voter of a one-node quorum formats its own): run `kafkapy storage random-uuid` once, then on "
            "every node `kafkapy storage format --cluster-id <that id> --config server.properties` "
            "(Kafka's kafka-storage.sh format does the same).")


def load_node_storage(config: Any) -> NodeStorage:
    """Check (or, for a lone voter, format) the node's directories; see the module doc.

    Raises:
        StorageNotFormatted: no directory is formatted and the node is one of several voters.
        ValueError: directories of different clusters, or of another node.
    """
    directories = storage_directories(config)
    found: dict[str, dict[str, str]] = {}
    empty: list[str] = []
    for directory in directories:
        try:
            props = read_properties_file(os.path.join(directory, META_PROPERTIES))
        except OSError as exc:
            log.error("Could not read %s in %s: %s", META_PROPERTIES, directory, exc)
            continue
        if props is None:
            empty.append(directory)
        else:
            found[directory] = props
    if not found:
        if not formats_itself(config):
            raise StorageNotFormatted(unformatted_message(directories))
        cluster_id = random_uuid()
        log.info("Formatting %s for a new one-node cluster %s (its only voter needs no "
                 "`kafkapy storage format`)", ", ".join(empty), cluster_id)
        _formatter(config, cluster_id, log.info).run()
        return load_node_storage(config)
    cluster_id = _verify(config, found)
    if empty:
        used = {props.get("directory.id") for props in found.values()}
        for directory in empty:
            directory_id = random_uuid()
            while directory_id in used:
                directory_id = random_uuid()
            used.add(directory_id)
            os.makedirs(directory, exist_ok=True)
            write_meta_properties(directory, {"node.id": str(config.node_id), "directory.id": directory_id,
                                              "version": "1", "cluster.id": cluster_id})
            found[directory] = {"directory.id": directory_id}
            log.info("Wrote %s in the empty directory %s (cluster %s)", META_PROPERTIES, directory, cluster_id)
    directory_ids = {d: p.get("directory.id", "") for d, p in found.items()}
    return NodeStorage(cluster_id, directory_ids, read_bootstrap(metadata_log_dir(config)),
                       directory_ids.get(metadata_log_dir(config)) or None)


def _formatter(config: Any, cluster_id: str, out: Any) -> Formatter:
    return Formatter(node_id=config.node_id, cluster_id=cluster_id, directories=config.data_dirs,
                     metadata_log_dir=metadata_log_dir(config),
                     controller_listener=(config.controller_listeners or ("CONTROLLER",))[0], out=out)


def _verify(config: Any, found: dict[str, dict[str, str]]) -> str:
    """``MetaPropertiesEnsemble.verify``: one cluster id, this node's id, version 1."""
    cluster_id: str | None = None
    for directory, props in sorted(found.items()):
        path = os.path.join(directory, META_PROPERTIES)
        if props.get("version") != "1":
            raise ValueError(f"Found unexpected version in {path}. KRaft mode nodes only support version 1 "
                             "(kafkapy reads no ZooKeeper-era directories).")
        found_id = props.get("cluster.id")
        if not found_id:
            raise ValueError(f"cluster.id was not specified in the v1 file: {path}")
        if cluster_id is None:
            cluster_id = found_id
        elif found_id != cluster_id:
            raise ValueError(f"Invalid cluster.id in: {path}. Expected {cluster_id}, but read {found_id}")
        if props.get("node.id") != str(config.node_id):
            raise ValueError(f"Stored node id {props.get('node.id')} doesn't match previous node id "
                             f"{config.node_id} in {path}. If you moved your data, make sure your configured "
                             "node id matches. If you intend to create a new node, you should remove all data "
                             "in your data directories.")
    assert cluster_id is not None
    return cluster_id


def read_bootstrap(directory: str) -> list[Any] | None:
    """The records of ``directory``'s ``bootstrap.checkpoint`` (FeatureLevelRecords and
    ``--add-scram``'s UserScramCredentialRecords), or None if it has none. Features
    kafkapy does not implement are left out, with a warning.

    Raises:
        ValueError: the file is corrupt or its ``metadata.version`` is one kafkapy
            cannot run.
    """
    from kafkapy.kraft.metadata.features import METADATA_VERSION, SUPPORTED_FEATURES
    from kafkapy.kraft.metadata.records import FeatureLevelRecord, UserScramCredentialRecord, decode_record
    from kafkapy.kraft.raft.batches import KafkaSnapshotCodec
    from kafkapy.kraft.raft.errors import RaftError
    from kafkapy.tools.versions import release_name

    path = os.path.join(directory, BOOTSTRAP_CHECKPOINT)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    try:
        records = [decode_record(value) for value in KafkaSnapshotCodec().decode(data).records]
    except (RaftError, ValueError) as exc:
        raise ValueError(f"Cannot read {path}: {exc}") from None
    kept = []
    for record in records:
        if isinstance(record, UserScramCredentialRecord):
            kept.append(record)
            continue
        if not isinstance(record, FeatureLevelRecord):
            log.warning("%s: leaving out a %s (kafkapy bootstraps feature levels and SCRAM credentials only)",
                        path, type(record).__name__)
            continue
        supported = SUPPORTED_FEATURES.get(record.name)
        if record.name == METADATA_VERSION and (supported is None or not
                                                 supported[0] <= record.feature_level <= supported[1]):
            raise ValueError(f"{path} bootstraps metadata.version {release_name(record.feature_level)}; kafkapy "
                             f"runs {release_name(supported[0])} to {release_name(supported[1])}"
                             if supported else f"{path}: no metadata.version support")
        if supported is None or record.feature_level > supported[1]:
            log.warning("%s: leaving out %s=%d, which kafkapy does not implement", path, record.name,
                        record.feature_level)
            continue
        kept.append(record)
    return kept


__all__ = ["NodeStorage", "StorageNotFormatted", "formats_itself", "load_node_storage", "read_bootstrap"]
