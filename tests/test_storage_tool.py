"""``kafkapy storage``: Kafka 4.4's ``kafka-storage`` verbs, flags, files, output and exit codes.

Each case runs ``python -m kafkapy storage`` as a process, as an operator would. The
reference cases run Apache Kafka's own tool (``kafka.tools.StorageTool``) on the same
configuration in other directories and compare what both print, exit with and write:
``meta.properties`` keys, ``bootstrap.checkpoint`` and the dynamic quorum's bootstrap
snapshot, decoded (the directory ids and timestamps are random or the clock's).

kafkapy formats a new cluster at ``metadata.version`` 4.1-IV1 unless ``--release-version``
asks for another (kafkapy.kraft.metadata.features: Kafka 4.1 nodes can still join its
quorum), where Kafka 4.4 formats at its latest, 4.4-IV2; without ``-r`` the comparisons
give Kafka's tool ``-r 4.1-IV1``.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compat_tests.brokers import tool_command
from kafkapy.kraft.metadata.records import FeatureLevelRecord, decode_record
from kafkapy.kraft.raft.batches import KafkaSnapshotCodec
from kafkapy.kraft.raft.file_log import FileRaftLog
from tests.reference import needs_reference

CLUSTER_ID = "sI31yP6KRQGgo43wJQVVWw"
DIRECTORY_ID = "JEXY6aqzQY-32P5TStzaFg"
#: kafkapy's default release, which Kafka's tool is given where kafkapy's is given none.
DEFAULT_RELEASE = "4.1-IV1"
#: The line Kafka 4.4's format prints first (``BootstrapMetadata.toString``), at 4.1-IV1.
BOOTSTRAP_4_1_IV1 = (
    "Bootstrap metadata: BootstrapMetadata(records=["
    "ApiMessageAndVersion(FeatureLevelRecord(name='metadata.version', featureLevel=27) at version 0), "
    "ApiMessageAndVersion(FeatureLevelRecord(name='group.version', featureLevel=1) at version 0), "
    "ApiMessageAndVersion(FeatureLevelRecord(name='transaction.version', featureLevel=2) at version 0)], "
    "metadataVersionLevel=27, source=format command)")
#: Kafka's record of eligible.leader.replicas.version (KIP-966), which kafkapy does not implement.
_ELR_RECORD = re.compile(r"ApiMessageAndVersion\(FeatureLevelRecord\(name='eligible\.leader\.replicas\.version', "
                         r"featureLevel=\d+\) at version 0\), ")


def kafkapy_storage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kafkapy", "storage", *args], capture_output=True, text=True,
                          timeout=60)


def kafka_storage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(tool_command("kafka.tools.StorageTool", *args), capture_output=True, text=True,
                          timeout=120)


def write_config(path: Path, data_dirs: list[Path], *, voters: str | None = "1@127.0.0.1:19093",
                 bootstrap: str | None = None, roles: str = "broker,controller",
                 metadata_dir: Path | None = None) -> Path:
    lines = [f"process.roles={roles}", "node.id=1",
             "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
             "controller.listener.names=CONTROLLER",
             "log.dirs=" + ",".join(str(d) for d in data_dirs)]
    if voters is not None:
        lines.append(f"controller.quorum.voters={voters}")
    if bootstrap is not None:
        lines.append(f"controller.quorum.bootstrap.servers={bootstrap}")
    if metadata_dir is not None:
        lines.append(f"metadata.log.dir={metadata_dir}")
    path.write_text("\n".join(lines) + "\n")
    return path


def meta_properties(directory: Path) -> dict[str, str]:
    lines = (directory / "meta.properties").read_text().splitlines()
    assert lines[0] == "#" and lines[1].startswith("#")  # Properties.store's comment and date
    return dict(line.split("=", 1) for line in lines[2:])


#: The first snapshot of ``__cluster_metadata``, which the formatters may write.
FIRST_SNAPSHOT = Path("__cluster_metadata-0") / "00000000000000000000-0000000000.checkpoint"


def bootstrap_records(directory: Path) -> list[Any]:
    """The records of ``bootstrap.checkpoint`` (kafkapy, Kafka 4.1), else of the first
    snapshot, where Kafka 4.4's ``Formatter`` writes the bootstrap records."""
    path = directory / "bootstrap.checkpoint"
    content = KafkaSnapshotCodec().decode((path if path.exists() else directory / FIRST_SNAPSHOT).read_bytes())
    return [decode_record(value) for value in content.records]


def bootstrap_features(directory: Path) -> list[tuple[str, int]]:
    return [(r.name, r.feature_level) for r in bootstrap_records(directory) if isinstance(r, FeatureLevelRecord)]


def test_random_uuid_prints_a_kafka_uuid():
    seen = set()
    for _ in range(3):
        done = kafkapy_storage("random-uuid")
        assert done.returncode == 0 and done.stderr == ""
        text = done.stdout.strip()
        assert len(text) == 22 and not text.startswith("-")
        assert len(base64.urlsafe_b64decode(text + "==")) == 16
        seen.add(text)
    assert len(seen) == 3


def test_format_writes_meta_properties_and_bootstrap_checkpoint(tmp_path):
    data, meta = tmp_path / "data", tmp_path / "meta"
    config = write_config(tmp_path / "server.properties", [data], metadata_dir=meta)
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        BOOTSTRAP_4_1_IV1,
        f"Formatting data directory {data} with metadata.version 4.1-IV1.",
        f"Formatting metadata directory {meta} with metadata.version 4.1-IV1.",
    ]
    props = {d: meta_properties(d) for d in (data, meta)}
    for p in props.values():
        assert set(p) == {"node.id", "directory.id", "version", "cluster.id"}
        assert (p["version"], p["cluster.id"], p["node.id"]) == ("1", CLUSTER_ID, "1")
    assert props[data]["directory.id"] != props[meta]["directory.id"]
    # kraft.version is a Raft control record, never a FeatureLevelRecord; level 0 features are left out.
    assert bootstrap_features(meta) == [("metadata.version", 27), ("group.version", 1), ("transaction.version", 2)]
    assert not (meta / "__cluster_metadata-0").exists()  # a static quorum has no voters snapshot


def test_format_again_fails_unless_ignore_formatted(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path / "server.properties", [data])
    assert kafkapy_storage("format", "--cluster-id", CLUSTER_ID, "--config", str(config)).returncode == 0
    before = (data / "meta.properties").read_text()
    again = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config))
    assert again.returncode == 1 and again.stdout == ""
    assert again.stderr == (f"Log directory {data} is already formatted. Use --ignore-formatted to ignore this "
                            "directory and format the others.\n")
    ignored = kafkapy_storage("format", "-g", "-t", CLUSTER_ID, "-c", str(config))
    assert (ignored.returncode, ignored.stdout) == (0, "All of the log directories are already formatted.\n")
    assert (data / "meta.properties").read_text() == before
    other = kafkapy_storage("format", "-g", "-t", "MvDxzVmcRsaTz33bUuRU6A", "-c", str(config))
    assert other.returncode == 1 and "Invalid cluster.id in" in other.stderr


def test_ignore_formatted_formats_a_new_directory_alongside(tmp_path):
    old, new = tmp_path / "a", tmp_path / "b"
    assert kafkapy_storage("format", "-t", CLUSTER_ID, "-c",
                           str(write_config(tmp_path / "one.properties", [old]))).returncode == 0
    done = kafkapy_storage("format", "-g", "-t", CLUSTER_ID, "-c",
                           str(write_config(tmp_path / "two.properties", [old, new])))
    assert done.returncode == 0
    assert done.stdout == f"{BOOTSTRAP_4_1_IV1}\nFormatting data directory {new} with metadata.version 4.1-IV1.\n"
    assert meta_properties(new)["cluster.id"] == CLUSTER_ID


def test_info_lists_directories_metadata_and_problems(tmp_path):
    data, missing = tmp_path / "data", tmp_path / "missing"
    config = write_config(tmp_path / "server.properties", [data])
    assert kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config)).returncode == 0
    done = kafkapy_storage("info", "-c", str(config))
    directory_id = meta_properties(data)["directory.id"]
    assert done.returncode == 0
    assert done.stdout == (f"Found log directory:\n  {data}\n\nFound metadata: {{cluster.id={CLUSTER_ID}, "
                           f"directory.id={directory_id}, node.id=1, version=1}}\n\n")
    config = write_config(tmp_path / "two.properties", [data, missing])
    done = kafkapy_storage("info", "-c", str(config))
    assert done.returncode == 1
    assert done.stdout.endswith(f"Found problem:\n  {missing} does not exist\n\n")


def test_standalone_writes_the_voter_set_kafkapy_reads(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path / "server.properties", [data], voters=None, bootstrap="127.0.0.1:19093")
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), "--standalone")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{BOOTSTRAP_4_1_IV1}\n"
                           f"Formatting dynamic metadata voter directory {data} with metadata.version 4.1-IV1.\n")
    directory_id = meta_properties(data)["directory.id"]
    log = FileRaftLog.open(str(data))
    try:
        snapshot = log.latest_snapshot()
        assert snapshot is not None and (snapshot.snapshot_id.offset, snapshot.snapshot_id.epoch) == (0, 0)
        voter = snapshot.voters.get(1)
        assert snapshot.voters.ids == {1} and voter.voter_directory_id == directory_id
        assert [(e.name, e.host, e.port) for e in voter.endpoints] == [("CONTROLLER", "127.0.0.1", 19093)]
    finally:
        log.close()


def test_initial_controllers_use_the_given_directory_id(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path / "server.properties", [data], voters=None, bootstrap="127.0.0.1:19093")
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), "-I",
                           f"1@127.0.0.1:19093:{DIRECTORY_ID},2@[::1]:19095:MvDxzVmcRsaTz33bUuRU6A")
    assert done.returncode == 0, done.stderr
    assert meta_properties(data)["directory.id"] == DIRECTORY_ID
    content = KafkaSnapshotCodec().decode(
        (data / "__cluster_metadata-0" / "00000000000000000000-0000000000.checkpoint").read_bytes())
    assert content.kraft_version == 1 and content.voters.ids == {1, 2}
    assert content.voters.get(2).endpoints[0].host == "::1"


@pytest.mark.parametrize(("flags", "config_kind", "message"), [
    (["-s"], "static", "You cannot specify controller.quorum.voters and format the node with "
                       "--initial-controllers or --standalone."),
    ([], "dynamic", "Because controller.quorum.voters is not set on this controller, you must specify one of "
                    "the following: --standalone, --initial-controllers, or --no-initial-controllers."),
    (["-f", "foo.version=1"], "static", "Unsupported feature: foo.version. Supported features are: "),
    (["-f", "group.version"], "static", "Can't parse feature=level string group.version: equals sign not found."),
    (["-f", "metadata.version=20", "-r", "3.9"], "static",
     "Use --release-version instead of --feature metadata.version=X to avoid ambiguity."),
    (["-f", "kraft.version=1"], "static", "Cannot set kraft.version to 1 unless controller.quorum.voters is empty"),
    (["-s", "-f", "kraft.version=0"], "dynamic", "Cannot set kraft.version to 0 if controller.quorum.voters is empty"),
    (["-I", "1@127.0.0.1:19093"], "dynamic", "No colon following port could be found."),
    (["-I", "1@h:1:x,1@h:2:y"], "dynamic", "Failed to parse directory ID in dynamic voter string."),
    (["-r", "9.9"], "static", "Unknown metadata.version '9.9'. Supported metadata.version are: 3.3-IV3, 3.4-IV0"),
])
def test_format_refusals(tmp_path, flags, config_kind, message):
    data = tmp_path / "data"
    config = write_config(tmp_path / "server.properties", [data],
                          **({} if config_kind == "static" else {"voters": None, "bootstrap": "127.0.0.1:19093"}))
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), *flags)
    assert done.returncode == 1
    assert done.stderr.startswith(message), done.stderr
    assert not (data / "meta.properties").exists()


def test_release_version_sets_the_feature_defaults(tmp_path):
    data = tmp_path / "data"
    config = write_config(tmp_path / "server.properties", [data])
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), "-r", "3.9")
    assert done.stdout == (
        "Bootstrap metadata: BootstrapMetadata(records=[ApiMessageAndVersion(FeatureLevelRecord("
        "name='metadata.version', featureLevel=21) at version 0)], metadataVersionLevel=21, source=format command)\n"
        f"Formatting metadata directory {data} with metadata.version 3.9-IV0.\n")
    assert bootstrap_features(data) == [("metadata.version", 21)]


def test_usage_errors_exit_1_as_argparse4j_does(tmp_path):
    done = kafkapy_storage("format", "-t", CLUSTER_ID)
    assert done.returncode == 1
    assert "the following arguments are required: --config/-c" in done.stderr


# --- against Apache Kafka's kafka-storage --------------------------------------------


Results = dict[str, tuple[subprocess.CompletedProcess[str], Path]]


def both(tmp_path: Path, flags: list[str], **config: object) -> Results:
    """Run each tool's ``format`` with ``flags`` on the same configuration, in its own
    directory; Kafka's at kafkapy's default release when ``flags`` name none."""
    out = {}
    kafka_flags = flags if "-r" in flags else [*flags, "-r", DEFAULT_RELEASE]
    for name, run, tool_flags in (("kafka", kafka_storage, kafka_flags), ("kafkapy", kafkapy_storage, flags)):
        data = tmp_path / name / "data"
        cfg = write_config(tmp_path / f"{name}.properties", [data], **config)  # type: ignore[arg-type]
        out[name] = (run("format", "-t", CLUSTER_ID, "-c", str(cfg), *tool_flags), data)
    return out


def same_output(results: Results) -> None:
    (kafka, kafka_dir), (ours, our_dir) = results["kafka"], results["kafkapy"]
    assert ours.returncode == kafka.returncode, (kafka.stderr, ours.stderr)
    assert ours.stdout.replace(str(our_dir), "DIR") == _ELR_RECORD.sub("", kafka.stdout).replace(str(kafka_dir), "DIR")
    # Kafka's uncaught IllegalArgumentExceptions print a stack trace; the message is the line that matters.
    kafka_message = kafka.stderr.splitlines()[0].split("Exception: ")[-1] if kafka.stderr else ""
    assert ours.stderr.strip() == kafka_message.strip()


@needs_reference
@pytest.mark.parametrize(("flags", "dynamic"), [
    ([], False), (["-N"], False), (["-r", "3.9-IV0"], False), (["-s"], True),
    (["-I", f"1@127.0.0.1:19093:{DIRECTORY_ID}"], True), (["-N"], True),
])
def test_format_matches_kafka_storage(tmp_path, flags, dynamic):
    results = both(tmp_path, flags, **({"voters": None, "bootstrap": "127.0.0.1:19093"} if dynamic else {}))
    same_output(results)
    (_, kafka_dir), (_, our_dir) = results["kafka"], results["kafkapy"]
    theirs, ours = meta_properties(kafka_dir), meta_properties(our_dir)
    assert list(ours) == list(theirs) and ours["cluster.id"] == theirs["cluster.id"]
    if "-I" in flags:
        assert ours["directory.id"] == theirs["directory.id"] == DIRECTORY_ID
    # The same feature levels, but eligible.leader.replicas.version, which kafkapy does not implement.
    kafka_features = [f for f in bootstrap_features(kafka_dir) if f[0] != "eligible.leader.replicas.version"]
    assert bootstrap_features(our_dir) == kafka_features
    # Kafka 4.4 writes a first snapshot on every node, the bootstrap records in it;
    # kafkapy writes Kafka 4.1's layout: bootstrap.checkpoint, and a snapshot of the
    # initial voters only where there are some (--standalone, --initial-controllers).
    assert (kafka_dir / FIRST_SNAPSHOT).exists()
    if (our_dir / FIRST_SNAPSHOT).exists():
        codec = KafkaSnapshotCodec()
        theirs_snapshot = codec.decode((kafka_dir / FIRST_SNAPSHOT).read_bytes())
        ours_snapshot = codec.decode((our_dir / FIRST_SNAPSHOT).read_bytes())
        assert ours_snapshot.kraft_version == theirs_snapshot.kraft_version == 1
        assert ours_snapshot.records == ()
        assert [(v.voter_id, v.endpoints, v.kraft_version_feature) for v in ours_snapshot.voters._voters.values()] \
            == [(v.voter_id, v.endpoints, v.kraft_version_feature) for v in theirs_snapshot.voters._voters.values()]


@needs_reference
@pytest.mark.parametrize(("flags", "dynamic"), [
    (["-s"], False), ([], True), (["-f", "foo.version=1"], False), (["-f", "group.version"], False),
    (["-f", "kraft.version=1"], False), (["-s", "-f", "kraft.version=0"], True),
    (["-f", "metadata.version=20", "-r", "3.9"], False), (["-I", "1@127.0.0.1:19093"], True),
])
def test_refusals_match_kafka_storage(tmp_path, flags, dynamic):
    results = both(tmp_path, flags, **({"voters": None, "bootstrap": "127.0.0.1:19093"} if dynamic else {}))
    (kafka, _), (ours, _) = results["kafka"], results["kafkapy"]
    assert kafka.returncode == ours.returncode == 1
    kafka_message = kafka.stderr.splitlines()[0].split("Exception: ")[-1]
    if flags[:2] == ["-f", "foo.version=1"]:
        # Kafka lists its features; kafkapy lists those it implements.
        kafka_message = kafka_message.split("Supported features are:")[0]
    assert ours.stderr.startswith(kafka_message), (kafka.stderr, ours.stderr)


@needs_reference
def test_info_matches_kafka_storage(tmp_path):
    data, meta = tmp_path / "data", tmp_path / "meta"
    config = write_config(tmp_path / "server.properties", [data, tmp_path / "missing"], metadata_dir=meta)
    # Formatted by Kafka's tool (with only the existing directories), described by both.
    formatted = write_config(tmp_path / "format.properties", [data], metadata_dir=meta)
    assert kafka_storage("format", "-t", CLUSTER_ID, "-c", str(formatted)).returncode == 0
    theirs, ours = kafka_storage("info", "-c", str(config)), kafkapy_storage("info", "-c", str(config))
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (1, ours.stdout)
    assert "Found problem:" in ours.stdout and os.fspath(tmp_path / "missing") in ours.stdout


@needs_reference
@pytest.mark.parametrize("flags", [
    ["-f", "group.version=1", "-f", "kraft.version=1", "-f", "metadata.version=27", "-f", "transaction.version=2"],
    ["-f", "group.version=5"], ["-f", "foo=1"], ["-f", "metadata.version=99"], ["-f", "group.version=x"],
])
def test_feature_dependencies_match_kafka_storage(flags):
    theirs, ours = kafka_storage("feature-dependencies", *flags), kafkapy_storage("feature-dependencies", *flags)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


@needs_reference
@pytest.mark.parametrize("release", [None, "3.9", "4.0-IV1", "9.9"])
def test_version_mapping_matches_kafka_storage_for_the_features_kafkapy_has(release):
    flags = ["-r", release] if release else []
    theirs = kafka_storage("version-mapping", *(flags or ["-r", DEFAULT_RELEASE]))
    ours = kafkapy_storage("version-mapping", *flags)
    # An unknown release lists the versions each knows: Kafka's up to 4.5-IV0, kafkapy's to 4.4-IV2.
    assert ours.returncode == theirs.returncode
    our_head, _, our_versions = ours.stderr.strip().partition(" are: ")
    their_head, _, their_versions = theirs.stderr.strip().partition(" are: ")
    assert our_head == their_head and their_versions.startswith(our_versions)
    kafka_lines = theirs.stdout.splitlines()
    assert ours.stdout.splitlines() == [line for line in kafka_lines if line.split("=")[0] in {
        "metadata.version", "kraft.version", "transaction.version", "group.version", "share.version",
        "streams.version"}]


@pytest.mark.parametrize("release,expected", [
    ("4.1", [("group.version", 1), ("metadata.version", 27), ("transaction.version", 2)]),
    ("4.2", [("group.version", 1), ("metadata.version", 29), ("share.version", 1), ("streams.version", 1),
             ("transaction.version", 2)]),
    ("4.4-IV0", [("group.version", 1), ("metadata.version", 31), ("share.version", 2), ("streams.version", 1),
                 ("transaction.version", 2)]),
    ("4.4", [("group.version", 1), ("metadata.version", 33), ("share.version", 2), ("streams.version", 1),
             ("transaction.version", 2)]),
])
def test_release_versions_up_to_4_4_finalize_kafka_4_4s_defaults(tmp_path, release, expected):
    """Kafka 4.4's Feature defaults (ShareVersion SV_1 from 4.2-IV0, SV_2 from 4.4-IV0,
    StreamsVersion SV_1 from 4.2-IV1); kafkapy's newest level is Kafka 4.4's latest
    production one, 4.4-IV2, and 4.5-IV0 (Kafka's unstable next) is refused."""
    data = tmp_path / "data"
    config = write_config(tmp_path / "server.properties", [data])
    done = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(config), "-r", release)
    assert done.returncode == 0, done.stderr
    assert sorted(bootstrap_features(data)) == expected
    refused = kafkapy_storage("format", "-t", CLUSTER_ID, "-c", str(write_config(tmp_path / "b.properties",
                              [tmp_path / "b"])), "-r", "4.5-IV0")
    assert refused.returncode == 1 and "4.5-IV0" in refused.stderr and "4.4-IV2" in refused.stderr
