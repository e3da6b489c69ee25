"""Controller mutation quotas (KIP-599) on requests a broker forwards to the controller
(KIP-590): the broker-only nodes forward CreateTopics in an Envelope with the client's
principal and client id, and the controller counts the partitions under that client,
whichever broker it reached, as Kafka's ``ControllerApis`` does; another client id is
not held back. The forwarding broker answers its client the controller's throttle time.
"""

from __future__ import annotations

from pathlib import Path

from kafkapy.kraft.metadata.quota_control import CLIENT_ID, CONTROLLER_MUTATION_RATE
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasRequest as Alter
from kafkapy.wire.messages.create_topics import CreateTopicsRequest
from kafkapy.wire.messages.describe_client_quotas import DescribeClientQuotasRequest as Describe
from tests.kraft.test_cluster_processes import request, until
from tests.kraft.test_split_roles import SplitCluster

CLIENT = "mutating-client"


def _create(address: str, client_id: str, name: str, partitions: int) -> CreateTopicsRequest:
    with KafkaConnection(address, client_id=client_id, timeout_s=20) as conn:
        return conn.request(CreateTopicsRequest(timeout_ms=15_000, topics=[CreateTopicsRequest.CreatableTopic(
            name=name, num_partitions=partitions, replication_factor=1)]), 6)  # strict from v6


def test_forwarded_creations_count_against_the_clients_quota_on_the_controller(tmp_path: Path) -> None:
    cluster = SplitCluster(tmp_path, brokers=2)
    try:
        cluster.start()
        first, second = cluster.nodes[2].bootstrap_servers, cluster.nodes[3].bootstrap_servers
        # 1 partition per second: a bucket of controller.quota.window.num (11) windows of 1 s.
        answer = request(first, Alter(entries=[Alter.EntryData(
            entity=[Alter.EntityData(entity_type=CLIENT_ID, entity_name=CLIENT)],
            ops=[Alter.OpData(key=CONTROLLER_MUTATION_RATE, value=1.0, remove=False)])], validate_only=False), 1)
        assert [e.error_code for e in answer.entries] == [0]
        until("the quota in the image", lambda: request(second, Describe(components=[Describe.ComponentData(
            entity_type=CLIENT_ID, match_type=0, match=CLIENT)], strict=False), 1).entries or None)

        # Within the bucket when it starts (strict quotas take it whole), which it leaves below zero.
        big = _create(first, CLIENT, "mutations-big", 12)
        assert [t.error_code for t in big.topics] == [ErrorCode.NONE]
        # The same client through the other broker: the controller's count holds it back.
        held = _create(second, CLIENT, "mutations-held", 1)
        assert [t.error_code for t in held.topics] == [ErrorCode.THROTTLING_QUOTA_EXCEEDED]
        assert held.throttle_time_ms > 0
        # Another client id has no quota.
        other = _create(second, "another-client", "mutations-other", 1)
        assert [t.error_code for t in other.topics] == [ErrorCode.NONE] and other.throttle_time_ms == 0
    finally:
        cluster.stop()
