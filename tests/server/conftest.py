from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

from kafkapy.server import BoundAddress, Listener, ServerSettings, serve

from .helpers import RawDispatcher


@pytest.fixture
def dispatcher() -> RawDispatcher:
    return RawDispatcher()


@pytest.fixture
def run_server(nursery: trio.Nursery) -> Callable:
    """Start a server on 127.0.0.1 port 0; returns its first bound address."""

    async def start(
        dispatcher: RawDispatcher,
        settings: ServerSettings | None = None,
    ) -> BoundAddress:
        addresses = await nursery.start(
            lambda task_status: serve(
                [Listener("PLAINTEXT", "127.0.0.1", 0)],
                dispatcher,
                settings=settings,
                task_status=task_status,
            )
        )
        return addresses[0]

    return start
