"""Envelope (KIP-590) on a kafkapy controller, as an Apache Kafka broker sends it.

No JVM: the test plays the Kafka broker's ``ForwardingManager`` over TCP against a
``kafkapy serve`` with ``process.roles=controller`` (and a kafkapy broker to place
replicas on): a CreateTopics wrapped with the
client's principal (``DefaultKafkaPrincipalBuilder`` serialisation) creates the topic
and comes back as the inner response, header included; envelopes Kafka's controller
refuses are refused with its error codes, and the controller goes on serving.
"""

from __future__ import annotations

import pytest

from compat_tests.mixed_cluster import MixedCluster
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.headers import decode_response_header, encode_request_header
from kafkapy.wire.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse
from kafkapy.wire.messages.envelope import EnvelopeRequest

#: ``DefaultKafkaPrincipalBuilder.serialize(User:ANONYMOUS)``, as a Kafka 4.1 broker sent it.
ANONYMOUS = bytes([0, 0, 5, *b"User", 10, *b"ANONYMOUS", 0, 0])


@pytest.fixture(scope="module")
def controller(tmp_path_factory: pytest.TempPathFactory):
    cluster = MixedCluster(tmp_path_factory.mktemp("envelope"))
    node = cluster.add("kafkapy", 1, "controller")
    cluster.add("kafkapy", 2, "broker")  # somewhere to place the topics
    try:
        cluster.start()
        yield node.controller_address
    finally:
        cluster.stop()


def inner_request(key: int, version: int, body: bytes, correlation_id: int = 41) -> bytes:
    out = bytearray()
    encode_request_header(out, key, version, correlation_id, "client-of-the-kafka-broker")
    return bytes(out) + body


def create_topics(name: str) -> bytes:
    request = CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=1, replication_factor=-1, assignments=[], configs=[])], timeout_ms=10000,
        validate_only=False)
    return request.to_bytes(7)


def envelope(address: str, data: bytes, principal: bytes | None = ANONYMOUS):
    with KafkaConnection(address, timeout_s=10, client_id="2") as conn:
        return conn.request(EnvelopeRequest(request_data=data, request_principal=principal,
                                            client_host_address=bytes([127, 0, 0, 1])), 0)


def test_a_wrapped_create_topics_runs_as_the_forwarded_client(controller):
    answer = envelope(controller, inner_request(ApiKey.CREATE_TOPICS, 7, create_topics("enveloped")))
    assert answer.error_code == ErrorCode.NONE
    data = memoryview(bytes(answer.response_data))
    correlation_id, pos = decode_response_header(data, 0, 1)  # CreateTopics v7 is flexible: header v1
    assert correlation_id == 41
    inner = CreateTopicsResponse.decode(data, pos, 7)[0]
    assert [(t.name, t.error_code) for t in inner.topics] == [("enveloped", ErrorCode.NONE)]
    again = envelope(controller, inner_request(ApiKey.CREATE_TOPICS, 7, create_topics("enveloped")))
    data = memoryview(bytes(again.response_data))
    inner = CreateTopicsResponse.decode(data, decode_response_header(data, 0, 1)[1], 7)[0]
    assert [t.error_code for t in inner.topics] == [ErrorCode.TOPIC_ALREADY_EXISTS]


@pytest.mark.parametrize(("data", "principal", "code"), [
    (b"\x00\x13", ANONYMOUS, ErrorCode.INVALID_REQUEST),  # not a request header
    (inner_request(ApiKey.PRODUCE, 9, b""), ANONYMOUS, ErrorCode.INVALID_REQUEST),  # not a controller API
    (inner_request(ApiKey.CREATE_TOPICS, 99, b""), ANONYMOUS, ErrorCode.UNSUPPORTED_VERSION),
    (inner_request(ApiKey.CREATE_TOPICS, 7, b"\x05"), ANONYMOUS, ErrorCode.INVALID_REQUEST),  # body cut short
    (inner_request(ApiKey.CREATE_TOPICS, 7, create_topics("x")), b"\x00\x07garbage",
     ErrorCode.PRINCIPAL_DESERIALIZATION_FAILURE),
], ids=["no-header", "not-a-controller-api", "unsupported-version", "body-cut-short", "bad-principal"])
def test_envelopes_kafka_refuses_are_refused_and_the_controller_goes_on(controller, data, principal, code):
    answer = envelope(controller, data, principal)
    assert (answer.error_code, answer.response_data) == (code, None)
    ok = envelope(controller, inner_request(ApiKey.CREATE_TOPICS, 7, create_topics(f"still-served-{code}")))
    assert ok.error_code == ErrorCode.NONE
