"""pytest plugin (entry point ``pytest11: kafkapy``): a real broker as a fixture.

Fixtures:
    kafka_broker: a :class:`kafkapy.testing.Broker` on a free 127.0.0.1 port with
        memory storage, started for the test and stopped after it.
    kafka_bootstrap: its ``host:port`` string, for any client library.

The broker runs in a background thread, so tests may be written with trio, asyncio
or plain threads. The broker module is imported only when a fixture is used, so the
plugin costs nothing for test runs that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kafkapy.testing.broker import Broker


@pytest.fixture
def kafka_broker() -> Iterator["Broker"]:
    """A running in-process broker (memory storage, port 0), stopped after the test."""
    from kafkapy.testing.broker import Broker

    with Broker() as broker:
        yield broker


@pytest.fixture
def kafka_bootstrap(kafka_broker: "Broker") -> str:
    """The ``host:port`` bootstrap address of :func:`kafka_broker`."""
    return kafka_broker.bootstrap_servers
