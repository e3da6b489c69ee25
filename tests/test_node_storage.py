"""A node's directories at start (``kafkapy.tools.node_storage``): Kafka's checks of
``meta.properties`` (``MetaPropertiesEnsemble.verify``) and ``bootstrap.checkpoint``."""

from __future__ import annotations

import logging

import pytest

from kafkapy.config import BrokerConfig
from kafkapy.tools.formatter import Formatter, bootstrap_checkpoint_bytes
from kafkapy.tools.node_storage import StorageNotFormatted, load_node_storage

CLUSTER = "sI31yP6KRQGgo43wJQVVWw"


def config(*dirs, voters="1@127.0.0.1:9093", node_id=1, roles="broker,controller"):
    return BrokerConfig.from_properties({
        "process.roles": roles, "node.id": str(node_id), "controller.listener.names": "CONTROLLER",
        "controller.quorum.voters": voters, "log.dirs": ",".join(str(d) for d in dirs)})


def format_dirs(*dirs, cluster_id=CLUSTER, node_id=1):
    Formatter(node_id=node_id, cluster_id=cluster_id, directories=[str(d) for d in dirs],
              metadata_log_dir=str(dirs[0]), out=lambda line: None).run()


def meta(directory):
    return dict(line.split("=", 1) for line in (directory / "meta.properties").read_text().splitlines()[2:])


def test_a_voter_of_several_refuses_and_a_lone_voter_formats(tmp_path):
    with pytest.raises(StorageNotFormatted, match="No readable meta.properties files found"):
        load_node_storage(config(tmp_path / "a", voters="1@h:1,2@h:2,3@h:3"))
    with pytest.raises(StorageNotFormatted):
        load_node_storage(config(tmp_path / "a", roles="broker"))  # a broker never formats itself
    assert not (tmp_path / "a").exists()
    storage = load_node_storage(config(tmp_path / "a"))
    assert meta(tmp_path / "a")["cluster.id"] == storage.cluster_id
    assert storage.metadata_directory_id == meta(tmp_path / "a")["directory.id"]
    assert load_node_storage(config(tmp_path / "a")).cluster_id == storage.cluster_id  # kept on restart


def test_directories_of_two_clusters_or_another_node_are_refused(tmp_path):
    format_dirs(tmp_path / "a")
    format_dirs(tmp_path / "b", cluster_id="MvDxzVmcRsaTz33bUuRU6A")
    with pytest.raises(ValueError, match=f"Invalid cluster.id in: {tmp_path / 'b'}/meta.properties. "
                                         f"Expected {CLUSTER}, but read MvDxzVmcRsaTz33bUuRU6A"):
        load_node_storage(config(tmp_path / "a", tmp_path / "b"))
    with pytest.raises(ValueError, match="Stored node id 1 doesn't match previous node id 2"):
        load_node_storage(config(tmp_path / "a", node_id=2, voters="2@h:1"))


def test_a_new_empty_directory_joins_the_formatted_ones(tmp_path):
    format_dirs(tmp_path / "a", tmp_path / "b")
    storage = load_node_storage(config(tmp_path / "a", tmp_path / "b", tmp_path / "c", voters="1@h:1,2@h:2"))
    ids = {d: meta(tmp_path / d)["directory.id"] for d in "abc"}
    assert meta(tmp_path / "c")["cluster.id"] == storage.cluster_id == CLUSTER
    assert len(set(ids.values())) == 3
    assert storage.directory_ids == {str(tmp_path / d): ids[d] for d in "abc"}


def test_bootstrap_features_kafkapy_lacks_are_left_out_with_a_warning(tmp_path, caplog):
    format_dirs(tmp_path / "a")
    (tmp_path / "a" / "bootstrap.checkpoint").write_bytes(bootstrap_checkpoint_bytes(
        {"metadata.version": 26, "eligible.leader.replicas.version": 1, "group.version": 1}, 0))
    with caplog.at_level(logging.WARNING):
        storage = load_node_storage(config(tmp_path / "a"))
    assert [(r.name, r.feature_level) for r in storage.bootstrap] == [("metadata.version", 26), ("group.version", 1)]
    assert "leaving out eligible.leader.replicas.version=1" in caplog.text
    (tmp_path / "a" / "bootstrap.checkpoint").write_bytes(bootstrap_checkpoint_bytes({"metadata.version": 40}, 0))
    with pytest.raises(ValueError, match="kafkapy runs 3.3-IV3 to 4.4-IV2"):
        load_node_storage(config(tmp_path / "a"))
