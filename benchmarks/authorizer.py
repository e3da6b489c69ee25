"""The cost of authorization: StandardAuthorizer decisions per second, and the request
path with and without an authorizer.

Prints:
  - ``authorize`` decisions per second over images with 10, 1,000 and 10,000 ACLs
    (a mix of LITERAL and PREFIXED topic ACLs for many principals), for an allowed
    literal match, an allowed prefix match, a denied name and a super user; and the
    time to index a new image's ACLs (once per ACL change);
  - Metadata (one named topic) and Produce (acks=1, one small batch) round trips per
    second on one connection to an in-process broker over SASL_PLAINTEXT, without and
    with the StandardAuthorizer (1,000 ACLs present).

Run: .venv/bin/python benchmarks/authorizer.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import time

from kafkapy.broker.security.authorizer import StandardAuthorizer
from kafkapy.kraft.metadata import acl_control
from kafkapy.kraft.metadata.acls import AclOperation, AclPermissionType, PatternType, ResourceType, StandardAcl
from kafkapy.kraft.metadata.image import MetadataImage


def _image(count: int) -> MetadataImage:
    acls = []
    for i in range(count):
        pattern = PatternType.PREFIXED if i % 4 == 0 else PatternType.LITERAL
        name = f"team-{i % 97}." if pattern == PatternType.PREFIXED else f"topic-{i}"
        acls.append(StandardAcl(ResourceType.TOPIC, name, pattern, f"User:user-{i % 50}", "*",
                                AclOperation.READ, AclPermissionType.ALLOW))
    acls.append(StandardAcl(ResourceType.TOPIC, "orders", PatternType.LITERAL, "User:alice", "*",
                            AclOperation.WRITE, AclPermissionType.ALLOW))
    acls.append(StandardAcl(ResourceType.TOPIC, "team-7.", PatternType.PREFIXED, "User:alice", "*",
                            AclOperation.READ, AclPermissionType.ALLOW))
    return MetadataImage().apply(acl_control.create_acls(MetadataImage(), acls).records)


def _rate(fn, seconds: float) -> float:
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            fn()
        n += 1000
    return n / seconds


def decisions(seconds: float) -> None:
    print("authorize() decisions per second (one thread):")
    for count in (10, 1_000, 10_000):
        image = _image(count)
        authorizer = StandardAuthorizer({"User:admin"})
        start = time.perf_counter()
        authorizer.authorize(image.acls, "User:x", "1.2.3.4", AclOperation.READ, ResourceType.TOPIC, "t")
        index_ms = (time.perf_counter() - start) * 1000
        acls, host = image.acls, "10.0.0.1"
        cases = {
            "literal allow": ("User:alice", AclOperation.WRITE, "orders"),
            "prefix allow": ("User:alice", AclOperation.READ, "team-7.payments"),
            "denied": ("User:bob", AclOperation.WRITE, "orders"),
            "super user": ("User:admin", AclOperation.DELETE, "orders"),
        }
        figures = []
        for label, (principal, op, name) in cases.items():
            rate = _rate(lambda: authorizer.authorize(acls, principal, host, op, ResourceType.TOPIC, name),
                         seconds / 4)
            figures.append(f"{label} {rate / 1e6:.2f} M/s")
        print(f"  {len(image.acls):>6} ACLs: index {index_ms:.1f} ms; " + ", ".join(figures))


def round_trips(seconds: float) -> None:
    from kafkapy.testing import Broker
    from kafkapy.testing.acls import allow
    from kafkapy.testing.client import KafkaConnection
    from kafkapy.wire.messages.metadata import MetadataRequest
    from kafkapy.wire.messages.produce import ProduceRequest
    from kafkapy.wire.messages.sasl_authenticate import SaslAuthenticateRequest
    from kafkapy.wire.messages.sasl_handshake import SaslHandshakeRequest
    from kafkapy.wire.records import Record, build_batch

    print("Round trips per second, one connection, SASL_PLAINTEXT (PLAIN):")
    users = {"alice": "pw"}
    filler = [allow(f"User:user-{i}", "READ", "TOPIC", f"topic-{i}") for i in range(1000)]
    for label, kwargs in (("no authorizer", {}),
                          ("StandardAuthorizer", {"acls": [*filler, allow("User:alice", "WRITE", "TOPIC", "bench"),
                                                           allow("User:alice", "DESCRIBE", "TOPIC", "bench")]})):
        with Broker(sasl_users=users, sasl_mechanisms=["PLAIN"], **kwargs) as broker:
            host, port = broker.info.listeners["PLAINTEXT"]
            with KafkaConnection(f"{host}:{port}") as admin:
                from kafkapy.wire.messages.create_topics import CreateTopicsRequest

                admin.request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
                    name="bench", num_partitions=1, replication_factor=1)], timeout_ms=10_000), 7)
            with KafkaConnection(broker.bootstrap_servers) as conn:
                conn.request(SaslHandshakeRequest(mechanism="PLAIN"), 1)
                conn.request(SaslAuthenticateRequest(auth_bytes=b"\0alice\0pw"), 2)
                metadata = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="bench")])
                batch = build_batch([Record(0, 0, b"k", b"v" * 100)], base_timestamp=int(time.time() * 1000))
                produce = ProduceRequest(acks=1, timeout_ms=10_000, topic_data=[ProduceRequest.TopicProduceData(
                    name="bench", partition_data=[ProduceRequest.PartitionProduceData(index=0, records=batch)])])
                assert conn.request(produce, 9).responses[0].partition_responses[0].error_code == 0
                rates = []
                for name, request, version in (("Metadata", metadata, 12), ("Produce", produce, 9)):
                    n = 0
                    deadline = time.perf_counter() + seconds
                    while time.perf_counter() < deadline:
                        conn.request(request, version)
                        n += 1
                    rates.append(f"{name} {n / seconds:,.0f}/s")
                print(f"  {label:<20} " + ", ".join(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    decisions(args.seconds)
    round_trips(args.seconds)


if __name__ == "__main__":
    main()
