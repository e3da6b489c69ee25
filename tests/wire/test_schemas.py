"""The messages are generated from Apache Kafka 4.4.0's own schemas, all of them.

tools/schema_jars.py brings the schema jars from Maven Central, checked against pinned
SHA-1s; tools/gen_messages.py reads them, plus kafkapy's own schemas only where Kafka has
none. Without the jars (compat_tests/install.sh fetches them) these tests skip.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tools import gen_messages, schema_jars

needs_jars = pytest.mark.skipif(
    bool(schema_jars.missing()),
    reason=f"Kafka {schema_jars.KAFKA_VERSION}'s schema jars are missing (python -m tools.schema_jars)")

#: Every API of Kafka 4.4 (org.apache.kafka.common.protocol.ApiKeys, ZooKeeper-era keys
#: 4-7 gone), by key.
KAFKA_4_4_APIS = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs",
    33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs", 36: "SaslAuthenticate",
    37: "CreatePartitions", 38: "CreateDelegationToken", 39: "RenewDelegationToken",
    40: "ExpireDelegationToken", 41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
    47: "OffsetDelete", 48: "DescribeClientQuotas", 49: "AlterClientQuotas",
    50: "DescribeUserScramCredentials", 51: "AlterUserScramCredentials", 52: "Vote",
    53: "BeginQuorumEpoch", 54: "EndQuorumEpoch", 55: "DescribeQuorum", 56: "AlterPartition",
    57: "UpdateFeatures", 58: "Envelope", 59: "FetchSnapshot", 60: "DescribeCluster",
    61: "DescribeProducers", 62: "BrokerRegistration", 63: "BrokerHeartbeat", 64: "UnregisterBroker",
    65: "DescribeTransactions", 66: "ListTransactions", 67: "AllocateProducerIds",
    68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe", 70: "ControllerRegistration",
    71: "GetTelemetrySubscriptions", 72: "PushTelemetry", 73: "AssignReplicasToDirs",
    74: "ListConfigResources", 75: "DescribeTopicPartitions", 76: "ShareGroupHeartbeat",
    77: "ShareGroupDescribe", 78: "ShareFetch", 79: "ShareAcknowledge", 80: "AddRaftVoter",
    81: "RemoveRaftVoter", 82: "UpdateRaftVoter", 83: "InitializeShareGroupState",
    84: "ReadShareGroupState", 85: "WriteShareGroupState", 86: "DeleteShareGroupState",
    87: "ReadShareGroupStateSummary", 88: "StreamsGroupHeartbeat", 89: "StreamsGroupDescribe",
    90: "DescribeShareGroupOffsets", 91: "AlterShareGroupOffsets", 92: "DeleteShareGroupOffsets",
    93: "StreamsGroupTopologyDescriptionUpdate", 94: "UnregisterController",
}

#: Records of the internal topics and of the KRaft log the broker reads or writes.
RECORDS = {
    # __consumer_offsets: classic, consumer, share and streams groups
    "OffsetCommitKey", "OffsetCommitValue", "GroupMetadataKey", "GroupMetadataValue",
    "ConsumerGroupMetadataKey", "ConsumerGroupMetadataValue", "ConsumerGroupMemberMetadataKey",
    "ConsumerGroupMemberMetadataValue", "ConsumerGroupCurrentMemberAssignmentKey",
    "ConsumerGroupCurrentMemberAssignmentValue", "ConsumerGroupTargetAssignmentMetadataKey",
    "ConsumerGroupTargetAssignmentMetadataValue", "ConsumerGroupTargetAssignmentMemberKey",
    "ConsumerGroupTargetAssignmentMemberValue", "ConsumerGroupRegularExpressionKey",
    "ConsumerGroupRegularExpressionValue",
    "ShareGroupMetadataKey", "ShareGroupMetadataValue", "ShareGroupMemberMetadataKey",
    "ShareGroupMemberMetadataValue", "ShareGroupCurrentMemberAssignmentKey",
    "ShareGroupCurrentMemberAssignmentValue", "ShareGroupTargetAssignmentMetadataKey",
    "ShareGroupTargetAssignmentMetadataValue", "ShareGroupTargetAssignmentMemberKey",
    "ShareGroupTargetAssignmentMemberValue", "ShareGroupStatePartitionMetadataKey",
    "ShareGroupStatePartitionMetadataValue",
    "StreamsGroupMetadataKey", "StreamsGroupMetadataValue", "StreamsGroupTopologyKey",
    "StreamsGroupTopologyValue", "StreamsGroupMemberMetadataKey", "StreamsGroupMemberMetadataValue",
    "StreamsGroupCurrentMemberAssignmentKey", "StreamsGroupCurrentMemberAssignmentValue",
    "StreamsGroupTargetAssignmentMetadataKey", "StreamsGroupTargetAssignmentMetadataValue",
    "StreamsGroupTargetAssignmentMemberKey", "StreamsGroupTargetAssignmentMemberValue",
    # __share_group_state and __transaction_state
    "ShareSnapshotKey", "ShareSnapshotValue", "ShareUpdateKey", "ShareUpdateValue",
    "TransactionLogKey", "TransactionLogValue",
    # control records and KRaft snapshots
    "LeaderChangeMessage", "SnapshotHeaderRecord", "SnapshotFooterRecord", "KRaftVersionRecord",
    "VotersRecord", "ConsumerProtocolSubscription", "ConsumerProtocolAssignment",
}

#: __cluster_metadata record types of Kafka 4.4 (org.apache.kafka.common.metadata.MetadataRecordType).
METADATA_RECORDS = {
    "RegisterBrokerRecord", "UnregisterBrokerRecord", "TopicRecord", "PartitionRecord", "ConfigRecord",
    "PartitionChangeRecord", "AccessControlEntryRecord", "RemoveAccessControlEntryRecord",
    "FenceBrokerRecord", "UnfenceBrokerRecord", "RemoveTopicRecord", "DelegationTokenRecord",
    "RemoveDelegationTokenRecord", "UserScramCredentialRecord", "RemoveUserScramCredentialRecord",
    "FeatureLevelRecord", "ClientQuotaRecord", "ProducerIdsRecord", "BrokerRegistrationChangeRecord",
    "NoOpRecord", "RegisterControllerRecord", "BeginTransactionRecord", "EndTransactionRecord",
    "AbortTransactionRecord", "ClearElrRecord", "UnregisterControllerRecord", "ZkMigrationStateRecord",
}


@needs_jars
def test_every_kafka_4_4_api_is_generated() -> None:
    from kafkapy.wire.messages._apis import API_TABLE

    assert {key: row[1][: -len("Request")] for key, row in API_TABLE.items()} == KAFKA_4_4_APIS


@needs_jars
def test_every_record_is_generated() -> None:
    from kafkapy.wire.messages.cluster_metadata import RECORD_TYPES

    names = {sc.name for mod, scs in gen_messages.collect().items() if "/" not in mod for sc in scs}
    assert RECORDS <= names, sorted(RECORDS - names)
    assert METADATA_RECORDS <= {row[1] for row in RECORD_TYPES.values()}


@needs_jars
def test_a_schema_kafka_has_cannot_be_our_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "VoteRequest.json").write_text(
        '{"apiKey": 52, "type": "request", "name": "VoteRequest", "validVersions": "0", "fields": []}')
    monkeypatch.setattr(gen_messages, "OWN_SCHEMAS", tmp_path)
    with pytest.raises(SystemExit, match="VoteRequest is defined twice"):
        gen_messages.collect()


def test_a_jar_that_differs_from_the_pinned_one_counts_as_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema_jars, "CACHE", tmp_path)
    monkeypatch.setattr(schema_jars, "JARS", {"kafka-a": hashlib.sha1(b"a").hexdigest(),
                                              "kafka-b": hashlib.sha1(b"b").hexdigest()})
    assert schema_jars.missing() == ["kafka-a", "kafka-b"]
    schema_jars.jar_path("kafka-a").write_bytes(b"a")
    schema_jars.jar_path("kafka-b").write_bytes(b"not b")
    assert schema_jars.missing() == ["kafka-b"]
