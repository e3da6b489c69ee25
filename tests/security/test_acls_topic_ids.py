"""OffsetCommit and OffsetFetch v10 (KIP-848) name topics by id: under the
StandardAuthorizer the ids are resolved to names before the topic ACLs are checked, as
KafkaApis does, and a denied topic is answered by its id.

Found by the secured compatibility matrix (compat_tests/security.py): franz-go asks
OffsetFetch v10, and every topic of it was taken as the unnamed topic "", denied and
answered without its id ("broker repeatedly omitted a requested partition").
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kafkapy.testing import Broker
from kafkapy.testing.acls import allow
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from kafkapy.wire.messages.metadata import MetadataRequest
from kafkapy.wire.messages.offset_commit import OffsetCommitRequest as OC
from kafkapy.wire.messages.offset_fetch import OffsetFetchRequest as OF
from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest

USERS = {"alice": "alice-secret"}
ALICE = "User:alice"
GROUP, ALLOWED, SECRET = "g", "allowed", "secret"


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    acls = [allow(ALICE, "READ", "GROUP", GROUP), allow(ALICE, "READ", "TOPIC", ALLOWED),
            allow(ALICE, "DESCRIBE", "TOPIC", ALLOWED)]
    with Broker(sasl_users=USERS, sasl_mechanisms=["PLAIN"], acls=acls) as b:
        host, port = b.info.listeners["PLAINTEXT"]
        with KafkaConnection(f"{host}:{port}") as admin:  # the super user's listener
            b.create_topics(ALLOWED, SECRET)
            deadline = time.monotonic() + 30
            while admin.request(FindCoordinatorRequest(key=GROUP, key_type=0), 3).error_code:
                assert time.monotonic() < deadline, "no coordinator for the group"
                time.sleep(0.1)
        yield b


def _alice(broker: Broker) -> KafkaConnection:
    conn = KafkaConnection(broker.bootstrap_servers)
    conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
    assert conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0alice-secret"), 2).error_code == 0
    return conn


def _ids(broker: Broker) -> dict[str, bytes]:
    host, port = broker.info.listeners["PLAINTEXT"]
    with KafkaConnection(f"{host}:{port}") as conn:
        answer = conn.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=n)
                                                      for n in (ALLOWED, SECRET)]), 12)
    return {t.name: bytes(t.topic_id) for t in answer.topics}


def test_offset_commit_and_fetch_v10_authorize_topics_named_by_id(broker: Broker) -> None:
    ids = _ids(broker)
    names = {v: k for k, v in ids.items()}
    with _alice(broker) as conn:
        committed = conn.request(OC(group_id=GROUP, generation_id_or_member_epoch=-1, member_id="", topics=[
            OC.OffsetCommitRequestTopic(topic_id=ids[name], partitions=[
                OC.OffsetCommitRequestPartition(partition_index=0, committed_offset=3)])
            for name in (ALLOWED, SECRET)]), 10)
        fetched = conn.request(OF(groups=[OF.OffsetFetchRequestGroup(group_id=GROUP, topics=[
            OF.OffsetFetchRequestTopics(topic_id=ids[name], partition_indexes=[0]) for name in (ALLOWED, SECRET)])]), 10)
        everything = conn.request(OF(groups=[OF.OffsetFetchRequestGroup(group_id=GROUP, topics=None)]), 10)
    assert sorted((names[bytes(t.topic_id)], ErrorCode(t.partitions[0].error_code)) for t in committed.topics) == [
        (ALLOWED, ErrorCode.NONE), (SECRET, ErrorCode.TOPIC_AUTHORIZATION_FAILED)]
    [group] = fetched.groups
    assert sorted((names[bytes(t.topic_id)], t.partitions[0].committed_offset, ErrorCode(t.partitions[0].error_code))
                  for t in group.topics) == [(ALLOWED, 3, ErrorCode.NONE),
                                             (SECRET, -1, ErrorCode.TOPIC_AUTHORIZATION_FAILED)]
    [group] = everything.groups
    assert [(names[bytes(t.topic_id)], t.partitions[0].committed_offset) for t in group.topics] == [(ALLOWED, 3)]
