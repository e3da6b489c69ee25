"""An in-process kafkapy node for tests: ``with Broker() as b: b.bootstrap_servers``.

The node runs under ``trio.run`` in a background thread, so it serves clients of any
kind from the test's own thread — plain threads, asyncio or trio — over real TCP on
127.0.0.1. By default it keeps its data in memory and binds free ports (port 0).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import TracebackType

import trio

from kafkapy.node import NodeInfo, run_node, test_properties


class Broker:
    """A kafkapy node (broker + controller) in a background thread.

    Args:
        config: Kafka configuration keys that override the test defaults.
        memory: keep data in memory (default); False writes to ``log.dirs``.

    Thread-safety: ``start``/``stop`` are called from one thread (the test's).
    """

    def __init__(self, config: Mapping[str, str] | None = None, *, memory: bool = True) -> None:
        self.properties = test_properties(config or {})
        self.memory = memory
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self.info: NodeInfo | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the client listener, as clients take it."""
        if self.info is None:
            raise RuntimeError("the broker is not running")
        return self.info.bootstrap_servers

    def start(self, timeout_s: float = 30.0) -> "Broker":
        """Start the node and return once it answers requests.

        Raises:
            RuntimeError: if it did not start within ``timeout_s``, or failed to start.
        """
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="kafkapy-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"broker did not start within {timeout_s} s")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("broker failed to start") from self._error
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Shut the node down cleanly (idempotent)."""
        thread = self._thread
        if thread is None:
            return
        if self._token is not None and self._stop is not None and thread.is_alive():
            try:
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        thread.join(timeout_s)
        self._thread = None
        self.info = None

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self.info = await nursery.start(lambda task_status: run_node(
                self.properties, memory=self.memory, task_status=task_status
            ))
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()
