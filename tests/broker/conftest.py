"""Fixtures for the broker tests: real brokers on 127.0.0.1, real clients, no mocks.

``broker`` is one in-process broker shared by a test module (topics are unique per
test); ``serve_process`` is a ``kafkapy serve --memory`` subprocess.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from kafkapy.testing import Broker


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses (auto-created on first use)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """A ``kafkapy serve`` child process; ``bootstrap_servers`` once it is ready."""

    def __init__(self, args: list[str], port: int, cwd: str) -> None:
        self.port = port
        self.bootstrap_servers = f"127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kafkapy", "serve", *args,
             "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}"],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if "kafkapy ready" in line:
                return
        self.stop()
        raise RuntimeError("kafkapy serve did not start:\n" + "".join(self.lines))

    def stop(self, sig: int = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.lines.extend(self.proc.stdout.readlines())
            self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture
def serve_process(tmp_path) -> Iterator[ServeProcess]:
    p = ServeProcess(["--memory"], free_port(), str(tmp_path))
    try:
        yield p
    finally:
        p.stop()
