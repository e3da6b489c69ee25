"""kafkapy's own schema files (kafkapy/wire/schemas) against Apache Kafka's.

Our JSON was written from the protocol docs and KIPs. Where the Kafka 4.1.2
distribution used by compat_tests is present, its jars hold Kafka's own schema
files; every field of ours must match them in name, type, versions, nullability,
tag and default.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.reference import KAFKA_LIBS
from tools.gen_messages import OWN_SCHEMAS, load_json, parse_versions

JARS = ["kafka-clients-4.1.2.jar", "kafka-metadata-4.1.2.jar",
        "kafka-group-coordinator-4.1.2.jar", "kafka-transaction-coordinator-4.1.2.jar"]

OURS = sorted(OWN_SCHEMAS.glob("*.json")) + sorted((OWN_SCHEMAS / "metadata").glob("*.json"))


def _upstream() -> dict[str, dict]:
    import json
    import re
    out = {}
    for jar in JARS:
        if not (KAFKA_LIBS / jar).exists():
            continue
        with zipfile.ZipFile(KAFKA_LIBS / jar) as z:
            for name in z.namelist():
                if name.endswith(".json") and name.startswith("common/"):
                    text = re.sub(r"^\s*//.*$", "", z.read(name).decode(), flags=re.MULTILINE)
                    out[Path(name).stem] = json.loads(text)
    return out


UPSTREAM = _upstream()

def _norm_default(f: dict) -> object:
    d = f.get("default")
    if d is None:
        return None
    d = str(d).lower()
    try:
        return int(d, 0)
    except ValueError:
        return d


def _norm_fields(fields: list[dict], common: dict[str, dict]) -> list:
    out = []
    for f in fields:
        t = f["type"]
        elem = t.removeprefix("[]")
        sub = f.get("fields") or (common[elem]["fields"] if elem in common else None)
        versions = f.get("versions", f.get("taggedVersions"))
        out.append((
            f["name"], t, parse_versions(versions),
            parse_versions(f.get("nullableVersions")), parse_versions(f.get("taggedVersions")),
            f.get("tag"), _norm_default(f), _norm_fields(sub, common) if sub else None,
        ))
    return out


def _norm(d: dict) -> tuple:
    common = {c["name"]: c for c in d.get("commonStructs", [])}
    return (d.get("apiKey"), d["type"], d["name"], parse_versions(d["validVersions"]),
            parse_versions(d.get("flexibleVersions")), _norm_fields(d["fields"], common))


@pytest.mark.skipif(not UPSTREAM, reason="Kafka 4.1.2 jars not present (compat_tests/.deps)")
@pytest.mark.parametrize("path", OURS, ids=lambda p: p.stem)
def test_schema_matches_kafka(path: Path) -> None:
    ours = load_json(path)
    assert ours["name"] == path.stem
    assert path.stem in UPSTREAM, f"Kafka 4.1.2 has no {path.stem}"
    assert _norm(ours) == _norm(UPSTREAM[path.stem])


def test_own_schemas_cover_the_required_set() -> None:
    names = {p.stem for p in OURS}
    required = {
        "VoteRequest", "BeginQuorumEpochRequest", "EndQuorumEpochRequest", "FetchSnapshotRequest",
        "AddRaftVoterRequest", "RemoveRaftVoterRequest", "UpdateRaftVoterRequest",
        "BrokerRegistrationRequest", "BrokerHeartbeatRequest", "AlterPartitionRequest",
        "ConsumerGroupHeartbeatRequest", "ConsumerGroupDescribeRequest",
        "GetTelemetrySubscriptionsRequest", "PushTelemetryRequest", "AllocateProducerIdsRequest",
        "UnregisterBrokerRequest", "LeaderChangeMessage", "SnapshotHeaderRecord",
        "SnapshotFooterRecord", "KRaftVersionRecord", "VotersRecord", "RegisterBrokerRecord",
        "UnregisterBrokerRecord", "TopicRecord", "PartitionRecord", "ConfigRecord",
        "PartitionChangeRecord", "FenceBrokerRecord", "UnfenceBrokerRecord", "RemoveTopicRecord",
        "FeatureLevelRecord", "ProducerIdsRecord", "BrokerRegistrationChangeRecord", "NoOpRecord",
        "BeginTransactionRecord", "EndTransactionRecord", "AbortTransactionRecord",
        "OffsetCommitKey", "OffsetCommitValue", "GroupMetadataKey", "GroupMetadataValue",
        "TransactionLogKey", "TransactionLogValue",
    }
    required |= {n.replace("Request", "Response") for n in required if n.endswith("Request")}
    assert required <= names, sorted(required - names)
