"""ElectLeaders, AlterPartitionReassignments and ListPartitionReassignments against an
in-process single node, through stock clients (confluent-kafka's ``elect_leaders``,
kafka-python's ``alter_partition_reassignments`` / ``list_partition_reassignments``)
and raw requests for what the clients do not show (versions, messages)."""

from __future__ import annotations

import pytest
from confluent_kafka import ElectionType, KafkaException
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import InvalidReplicationAssignmentError, NoReassignmentInProgressError, UnknownTopicOrPartitionError

from kafkapy.config import BrokerConfig
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.alter_partition_reassignments import AlterPartitionReassignmentsRequest as Alter
from kafkapy.wire.messages.elect_leaders import ElectLeadersRequest as Elect
from kafkapy.wire.messages.list_partition_reassignments import ListPartitionReassignmentsRequest as List
from tests.broker.conftest import free_port


@pytest.fixture
def admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap_servers})


@pytest.fixture
def kp_admin(broker):
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    yield client
    client.close()


def test_preferred_election_not_needed(admin, broker, topic):
    broker.create_topics(topic, partitions=2)
    partitions = [CkTopicPartition(topic, 0), CkTopicPartition(topic, 1)]
    result = admin.elect_leaders(ElectionType.PREFERRED, partitions).result(timeout=30)
    assert sorted(tp.partition for tp in result) == [0, 1]
    assert {error.name() for error in result.values()} == {"ELECTION_NOT_NEEDED"}


def test_unclean_election_not_needed_and_unknown_partition(admin, broker, topic):
    broker.create_topics(topic)
    result = admin.elect_leaders(ElectionType.UNCLEAN, [CkTopicPartition(topic, 0), CkTopicPartition(topic, 9)]
                                 ).result(timeout=30)
    names = {tp.partition: error.name() for tp, error in result.items()}
    assert names == {0: "ELECTION_NOT_NEEDED", 9: "UNKNOWN_TOPIC_OR_PART"}  # librdkafka's name for code 3


def test_election_of_every_partition_lists_none_that_needs_none(broker, topic):
    broker.create_topics(topic, partitions=3)
    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = conn.request(Elect(election_type=0, topic_partitions=None), 2)
    assert answer.error_code == ErrorCode.NONE
    results = {r.topic: r.partition_result for r in answer.replica_election_results}
    assert results[topic] == []


def test_election_versions_and_unknown_type(broker, topic):
    broker.create_topics(topic)
    asked = [Elect.TopicPartitions(topic=topic, partitions=[0])]
    with KafkaConnection(broker.bootstrap_servers) as conn:
        v0 = conn.request(Elect(topic_partitions=asked), 0)  # no election type: PREFERRED
        bad = conn.request(Elect(election_type=5, topic_partitions=asked), 1)
    [[result]] = [r.partition_result for r in v0.replica_election_results]
    assert (result.partition_id, result.error_code, result.error_message) == (
        0, ErrorCode.ELECTION_NOT_NEEDED, "Leader election not needed for topic partition.")
    assert bad.error_code == ErrorCode.INVALID_REQUEST
    [[result]] = [r.partition_result for r in bad.replica_election_results]
    assert (result.error_code, result.error_message) == (ErrorCode.INVALID_REQUEST, "Unknown election type 5")


def test_no_reassignment_listed(kp_admin, broker, topic):
    broker.create_topics(topic, partitions=2)
    assert kp_admin.list_partition_reassignments() == {}
    assert kp_admin.list_partition_reassignments([TopicPartition(topic, 0)]) == {}


def test_reassignment_errors_on_one_node(kp_admin, broker, topic):
    broker.create_topics(topic, partitions=2)
    result = kp_admin.alter_partition_reassignments({
        TopicPartition(topic, 0): [broker.node_id + 1],  # no such broker
        TopicPartition(topic, 1): None,  # nothing to cancel
        TopicPartition(topic, 7): [broker.node_id],
    })
    assert result == {
        TopicPartition(topic, 0): InvalidReplicationAssignmentError,
        TopicPartition(topic, 1): NoReassignmentInProgressError,
        TopicPartition(topic, 7): UnknownTopicOrPartitionError,
    }
    # to where it already is: accepted, nothing changes, nothing in progress
    assert kp_admin.alter_partition_reassignments({TopicPartition(topic, 0): [broker.node_id]}) == {
        TopicPartition(topic, 0): None}
    assert kp_admin.list_partition_reassignments() == {}


def test_reassignment_messages_and_flags(broker, topic):
    broker.create_topics(topic)
    node = broker.node_id

    def partition(replicas):
        return Alter.ReassignablePartition(partition_index=0, replicas=replicas)

    with KafkaConnection(broker.bootstrap_servers) as conn:
        answer = conn.request(Alter(allow_replication_factor_change=False, topics=[Alter.ReassignableTopic(
            name=topic, partitions=[partition([node + 5]), partition([node, node]), partition([])])]), 1)
        empty = conn.request(Alter(topics=[]), 1)
        listed = conn.request(List(topics=[List.ListPartitionReassignmentsTopics(name=topic, partition_indexes=[0])]), 0)
    assert answer.allow_replication_factor_change is False and answer.error_message is None
    [results] = [t.partitions for t in answer.responses]
    assert [(r.error_code, r.error_message) for r in results] == [
        (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         f"The manual partition assignment includes broker {node + 5}, but no such broker is registered."),
        (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
         f"The manual partition assignment includes the broker {node} more than once."),
        (ErrorCode.INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes an empty replica list."),
    ]
    assert (empty.error_code, empty.responses) == (ErrorCode.NONE, [])
    assert (listed.error_code, listed.topics) == (ErrorCode.NONE, [])


def test_create_topics_refuses_a_replication_factor_above_the_brokers(admin, topic):
    from confluent_kafka.admin import NewTopic

    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)])
    with pytest.raises(KafkaException) as refused:
        futures[topic].result(timeout=30)
    error = refused.value.args[0]
    assert error.name() == "INVALID_REPLICATION_FACTOR"
    assert error.str() == ("Unable to replicate the partition 3 time(s): The target replication factor of 3 "
                           "cannot be reached because only 1 broker(s) are registered or some brokers have "
                           "all their log directories cordoned.")


def test_served_on_the_controller_listener(topic):
    """As Kafka's ControllerApis: the controller listener serves the three APIs too."""
    client, controller = free_port(), free_port()
    listeners = {BrokerConfig.field_name("listeners"):
                 f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
                 BrokerConfig.field_name("advertised_listeners"): f"PLAINTEXT://127.0.0.1:{client}"}
    with Broker(listeners) as broker, KafkaConnection(f"127.0.0.1:{controller}") as conn:
        broker.create_topics(topic)
        elected = conn.request(Elect(election_type=0, topic_partitions=[
            Elect.TopicPartitions(topic=topic, partitions=[0])]), 2)
        moved = conn.request(Alter(topics=[Alter.ReassignableTopic(name=topic, partitions=[
            Alter.ReassignablePartition(partition_index=0, replicas=None)])]), 1)
        listed = conn.request(List(topics=None), 0)
    assert [p.error_code for r in elected.replica_election_results for p in r.partition_result] == [
        ErrorCode.ELECTION_NOT_NEEDED]
    assert [p.error_code for r in moved.responses for p in r.partitions] == [ErrorCode.NO_REASSIGNMENT_IN_PROGRESS]
    assert (listed.error_code, listed.topics) == (ErrorCode.NONE, [])
