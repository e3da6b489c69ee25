"""Client quotas beyond one node: AlterClientQuotas sent to a broker-only node is
forwarded to the controller (Kafka 4's ``ControllerApis.handleAlterClientQuotas``) and
every broker answers DescribeClientQuotas from its own image; with an authorizer both
need CLUSTER ALTER_CONFIGS / DESCRIBE_CONFIGS and are otherwise answered
CLUSTER_AUTHORIZATION_FAILED in their own shape."""

from __future__ import annotations

from pathlib import Path

from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.messages.alter_client_quotas import AlterClientQuotasRequest as Alter
from kafkapy.wire.messages.describe_client_quotas import DescribeClientQuotasRequest as Describe
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest
from tests.kraft.test_cluster_processes import request, until
from tests.kraft.test_split_roles import SplitCluster

ALTER = Alter(entries=[Alter.EntryData(entity=[Alter.EntityData(entity_type="client-id", entity_name="c9")],
                                       ops=[Alter.OpData(key="producer_byte_rate", value=4096.0, remove=False)])],
              validate_only=False)
DESCRIBE = Describe(components=[Describe.ComponentData(entity_type="client-id", match_type=0, match="c9")],
                    strict=False)


def test_alter_is_forwarded_and_every_broker_describes_it(tmp_path: Path) -> None:
    cluster = SplitCluster(tmp_path, brokers=2)
    try:
        cluster.start()
        answer = request(cluster.nodes[2].bootstrap_servers, ALTER, 1)
        assert [(e.error_code, e.error_message) for e in answer.entries] == [(0, None)]

        def described(node: int):
            entries = request(cluster.nodes[node].bootstrap_servers, DESCRIBE, 1).entries
            return entries or None

        for node in (2, 3):
            entries = until(f"node {node} describes the quota", lambda: described(node))
            assert [[(v.key, v.value) for v in e.values] for e in entries] == [[("producer_byte_rate", 4096.0)]]
    finally:
        cluster.stop()


def _as(bootstrap: str, user: str, password: str) -> KafkaConnection:
    conn = KafkaConnection(bootstrap)
    assert conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1).error_code == 0
    auth = conn.request(SaslAuthenticateRequest(auth_bytes=f"\0{user}\0{password}".encode()), 2)
    assert auth.error_code == 0
    return conn


def test_quota_apis_need_cluster_alter_configs_and_describe_configs() -> None:
    users = {"alice": "alice-secret", "bob": "bob-secret"}
    with Broker(sasl_users=users, super_users=["User:alice"]) as broker:
        with _as(broker.bootstrap_servers, "bob", "bob-secret") as bob:
            refused = bob.request(ALTER, 1)
            assert [(e.error_code, [(x.entity_type, x.entity_name) for x in e.entity]) for e in refused.entries] == [
                (31, [("client-id", "c9")])]  # CLUSTER_AUTHORIZATION_FAILED, per entity
            hidden = bob.request(DESCRIBE, 1)
            assert (hidden.error_code, hidden.entries) == (31, None)
        with _as(broker.bootstrap_servers, "alice", "alice-secret") as alice:
            assert [e.error_code for e in alice.request(ALTER, 1).entries] == [0]
            assert len(until("the quota applied", lambda: alice.request(DESCRIBE, 1).entries or None)) == 1
