"""``kafkapy serve`` as a subprocess: start, serve real clients, stop cleanly on signals."""

from __future__ import annotations

import signal
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.broker.conftest import ServeProcess, free_port


def roundtrip(bootstrap: str, topic: str, n: int = 100, start: int = 0) -> list[bytes]:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(n):
        p.produce(topic, b"%d" % (start + i))
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(out) < start + n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                out.append(m.value())
        return out
    finally:
        c.close()


def test_serve_memory_roundtrip_and_sigterm(serve_process):
    assert roundtrip(serve_process.bootstrap_servers, "served") == [b"%d" % i for i in range(100)]
    md = AdminClient({"bootstrap.servers": serve_process.bootstrap_servers}).list_topics(timeout=10)
    assert [f"{b.host}:{b.port}" for b in md.brokers.values()] == [serve_process.bootstrap_servers]
    assert serve_process.stop(signal.SIGTERM) == 0
    assert any("shutting down" in line for line in serve_process.lines)


def test_serve_ready_line_names_the_bootstrap_address(serve_process):
    ready = [line for line in serve_process.lines if "kafkapy ready" in line]
    assert len(ready) == 1 and serve_process.bootstrap_servers in ready[0]
    assert serve_process.stop(signal.SIGINT) == 0


def test_serve_reads_server_properties(tmp_path):
    port, controller_port = free_port(), free_port()
    properties = tmp_path / "server.properties"
    properties.write_text(
        "# Kafka's format: comments, separators and continuations\n"
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}\n"
        "controller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
        "num.partitions = 3\n"
        "auto.create.topics.enable:true\n"
        "num.network.threads=3\n"
        "log.retention.hours=\\\n  24\n"
    )
    # The file positionally, as kafka-server-start.sh takes it.
    proc = ServeProcess(["--memory", str(properties)], port, str(tmp_path),
                        listeners=f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}")
    try:
        producer = Producer({"bootstrap.servers": proc.bootstrap_servers})
        producer.produce("three", b"x")  # auto-creates the topic with num.partitions
        assert producer.flush(30) == 0
        md = AdminClient({"bootstrap.servers": proc.bootstrap_servers}).list_topics("three", timeout=10)
        assert sorted(md.topics["three"].partitions) == [0, 1, 2]
        assert any("num.network.threads" in line for line in proc.lines)  # unknown key: logged, ignored
        # With a file, keys it leaves out have Kafka's defaults, not the quick start's (0).
        assert "\tgroup.initial.rebalance.delay.ms = 3000" in proc.output
        assert "\tnum.partitions = 3" in proc.output
    finally:
        assert proc.stop() == 0


def test_serve_bad_config_fails_with_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "kafkapy", "serve", "--memory",
                             "--override", "num.partitions=zero"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "num.partitions" in result.stderr
    assert "Traceback" not in result.stderr


def test_controller_listener_advertises_its_own_table(tmp_path):
    from kafkapy.wire.messages.api_versions import ApiVersionsRequest
    from tests.broker.test_bad_input import RawClient

    port, controller_port = free_port(), free_port()
    proc = ServeProcess(["--memory"], port, str(tmp_path),
                        listeners=f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}")
    try:
        request = ApiVersionsRequest(client_software_name="test", client_software_version="1")
        client = RawClient(f"127.0.0.1:{controller_port}")
        try:
            keys = [(k.api_key, k.min_version, k.max_version) for k in client.request(request, 3).api_keys]
        finally:
            client.close()
        served = {k for k, _, _ in keys}
        assert {18, 52, 53, 54, 55, 59, 62, 63, 80, 81, 82} <= served  # ApiVersions, KRaft RPCs, registration
        assert 0 not in served and 3 not in served  # no Produce, no Metadata on the controller listener
    finally:
        assert proc.stop() == 0
