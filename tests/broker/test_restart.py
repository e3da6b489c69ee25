"""On-disk storage: topics, records and configs survive a restart of the node."""

from __future__ import annotations

import signal

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kafkapy.testing import Broker
from tests.broker.conftest import ServeProcess, free_port
from tests.broker.test_serve_process import roundtrip


def test_serve_restart_keeps_data(tmp_path):
    port = free_port()
    first = ServeProcess([], port, str(tmp_path))
    try:
        assert roundtrip(first.bootstrap_servers, "durable", n=100) == [b"%d" % i for i in range(100)]
        admin = AdminClient({"bootstrap.servers": first.bootstrap_servers})
        admin.create_topics([NewTopic("configured", num_partitions=2, replication_factor=1,
                                      config={"retention.ms": "123456"})])["configured"].result(30)
    finally:
        assert first.stop(signal.SIGTERM) == 0
    assert (tmp_path / "kafkapy-data" / "durable-0").is_dir()
    assert (tmp_path / "kafkapy-data" / "meta.properties").is_file()

    second = ServeProcess([], port, str(tmp_path))
    try:
        # Everything written before the restart is there, and appends continue after it.
        values = roundtrip(second.bootstrap_servers, "durable", n=50, start=100)
        assert values == [b"%d" % i for i in range(150)]
        admin = AdminClient({"bootstrap.servers": second.bootstrap_servers})
        md = admin.list_topics(timeout=10)
        assert sorted(md.topics["configured"].partitions) == [0, 1]
        resource = ConfigResource(ConfigResource.Type.TOPIC, "configured")
        configs = admin.describe_configs([resource])[resource].result(30)
        assert configs["retention.ms"].value == "123456"
    finally:
        assert second.stop(signal.SIGTERM) == 0


def test_in_process_restart_on_disk(tmp_path):
    config = {"log.dirs": str(tmp_path / "data")}
    with Broker(config, memory=False) as b:
        roundtrip(b.bootstrap_servers, "kept", n=10)
    with Broker(config, memory=False) as b:
        assert roundtrip(b.bootstrap_servers, "kept", n=10, start=10) == [b"%d" % i for i in range(20)]
