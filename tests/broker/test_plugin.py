"""The pytest plugin's fixtures (entry point ``pytest11: kafkapy``) serve real clients."""

from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from kafkapy.testing import Broker


def test_kafka_bootstrap_fixture(kafka_broker, kafka_bootstrap):
    assert isinstance(kafka_broker, Broker)
    assert kafka_bootstrap == kafka_broker.bootstrap_servers
    p = Producer({"bootstrap.servers": kafka_bootstrap})
    p.produce("plugin-topic", b"x")
    assert p.flush(10) == 0
    assert "plugin-topic" in AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics


def test_broker_stops_and_frees_its_port():
    import socket

    with Broker() as b:
        host, port = b.bootstrap_servers.rsplit(":", 1)
    with socket.socket() as s:
        s.bind((host, int(port)))  # the listener is gone


def test_broker_with_config_overrides():
    with Broker({"num.partitions": "4"}) as b:
        p = Producer({"bootstrap.servers": b.bootstrap_servers})
        p.produce("four", b"x")
        p.flush(10)
        md = AdminClient({"bootstrap.servers": b.bootstrap_servers}).list_topics("four", timeout=10)
        assert sorted(md.topics["four"].partitions) == [0, 1, 2, 3]
