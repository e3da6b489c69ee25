"""Connection limits follow dynamic broker configs (AlterConfigs), as Kafka's
DynamicConnectionQuota applies them to ConnectionQuotas without a restart."""

from __future__ import annotations

import socket
import struct
import time

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from kafkapy.config import BrokerConfig
from kafkapy.testing.broker import Broker

_API_VERSIONS = struct.pack(">hhih", 18, 0, 1, 1) + b"t"


def _answered(host: str, port: int, count: int) -> tuple[int, list[socket.socket]]:
    """Open ``count`` connections and send ApiVersions on each; how many answered."""
    answered = 0
    socks = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=5)
        socks.append(s)
        try:
            s.sendall(struct.pack(">i", len(_API_VERSIONS)) + _API_VERSIONS)
            if s.recv(4):
                answered += 1
        except OSError:
            pass
    return answered, socks


def test_max_connections_per_ip_set_by_alter_configs_applies_at_once() -> None:
    broker = Broker().start()
    try:
        host, port = broker.bootstrap_servers.split(",")[0].rsplit(":", 1)
        answered, socks = _answered(host, int(port), 8)
        assert answered == 8
        for s in socks:
            s.close()
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        name = BrokerConfig.field_name("max_connections_per_ip")
        resource = ConfigResource(
            "BROKER", str(broker.node_id),
            incremental_configs=[ConfigEntry(name, "4", incremental_operation=AlterConfigOpType.SET)],
        )
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)
        # The closed sockets leave the broker's counts once it has seen them close.
        deadline = time.monotonic() + 30
        while True:
            answered, socks = _answered(host, int(port), 8)
            for s in socks:
                s.close()
            if answered < 8 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # The admin client holds some of the 4 connections 127.0.0.1 may have.
        assert 1 <= answered <= 4
    finally:
        broker.stop()
