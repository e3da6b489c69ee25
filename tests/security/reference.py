"""The reference Apache Kafka with a SASL listener, for tests that compare kafkapy's
answers with Kafka's under the same security settings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from compat_tests.brokers import KAFKA_VERSION, free_port, start_reference


@contextmanager
def reference_with_sasl(settings: Mapping[str, str], version: str = KAFKA_VERSION) -> Iterator[tuple[str, str]]:
    """Kafka ``version`` with a PLAINTEXT and a SASL_PLAINTEXT listener and ``settings``
    (mechanisms, JAAS configs, authorizer ...); yields the (SASL, PLAINTEXT) addresses."""
    port, sasl_port, controller_port = free_port(), free_port(), free_port()
    overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
                     f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        **settings,
    }
    broker = start_reference(port, version=version, overrides=overrides, timeout=180)
    try:
        yield f"127.0.0.1:{sasl_port}", f"127.0.0.1:{port}"
    finally:
        broker.stop()
