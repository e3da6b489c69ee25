"""Fixtures for the broker tests: real brokers on 127.0.0.1, real clients, no mocks.

``broker`` is one in-process broker shared by a test module (topics are unique per
test); ``serve_process`` is a ``kafkapy serve --memory`` subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from kafkapy.testing import Broker
from kafkapy.testing.ports import free_port


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses (auto-created on first use)."""
    return f"t-{uuid.uuid4().hex[:12]}"


class ServeProcess:
    """A ``kafkapy serve`` child process; ``bootstrap_servers`` once it is ready.

    Its output goes to ``<cwd>/serve.log`` (a pipe nobody reads could fill and block it).
    """

    def __init__(self, args: list[str], port: int, cwd: str, *, listeners: str | None = None) -> None:
        self.port = port
        self.bootstrap_servers = f"127.0.0.1:{port}"
        self.log_path = os.path.join(cwd, "serve.log")
        self._log = open(self.log_path, "w")  # noqa: SIM115  (the child's output; closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kafkapy", "serve", *args,
             "--override", f"listeners={listeners or f'PLAINTEXT://127.0.0.1:{port}'}"],
            cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            if "kafkapy ready" in self.output:
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("kafkapy serve did not start:\n" + self.output)

    @property
    def output(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait for it (idempotent); returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def serve_process(tmp_path) -> Iterator[ServeProcess]:
    p = ServeProcess(["--memory"], free_port(), str(tmp_path))
    try:
        yield p
    finally:
        p.stop()
