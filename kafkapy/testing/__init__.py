"""Running kafkapy inside tests: the pytest plugin, an in-process broker, a cluster.

``from kafkapy.testing import Broker`` (or ``Cluster``) imports the machinery lazily,
so importing this package (as pytest does for the plugin) stays cheap.

    with kafkapy.testing.Broker() as broker:
        broker.create_topics("orders", partitions=3)
        ...  # any client, bootstrap.servers=broker.bootstrap_servers
        broker.records("orders")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkapy.testing.broker import Broker
    from kafkapy.testing.cluster import Cluster

__all__ = ["Broker", "Cluster"]


def __getattr__(name: str) -> Any:
    if name == "Broker":
        from kafkapy.testing.broker import Broker

        return Broker
    if name == "Cluster":
        from kafkapy.testing.cluster import Cluster

        return Cluster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
