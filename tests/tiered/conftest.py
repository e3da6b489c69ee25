"""Tiered storage tests (KIP-405): real brokers with a remote tier, real clients.

The ``local`` tier is a directory; the ``s3`` tier talks to a real S3-compatible HTTP
server the tests start themselves, moto's server mode (``moto_server``, installed by
``compat_tests/install.sh`` with the test dependencies): SeaweedFS built from the Go
module proxy took longer than CI's install budget allows on this machine. Tests of
the ``s3`` tier skip, saying so, when ``moto_server`` is absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkapy.config import BrokerConfig
from kafkapy.testing.ports import free_port

#: Test credentials of the S3 server (moto accepts any).
S3_KEY, S3_SECRET, S3_REGION = "kafkapy-test", "kafkapy-test-secret", "us-east-1"
SEGMENT_BYTES = 20_000


def wait_for(condition: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def tiered_properties(data_dir: Path, tier: dict[str, str], **extra: str) -> dict[str, str]:
    """A one-node broker with tiered storage and short task intervals."""
    name = BrokerConfig.field_name
    return {
        "log.dirs": str(data_dir),
        name("remote_log_storage_system_enable"): "true",
        name("remote_log_manager_task_interval_ms"): "200",
        name("log_retention_check_interval_ms"): "200",
        name("remote_log_manager_task_retry_backoff_ms"): "100",
        name("remote_log_manager_task_retry_backoff_max_ms"): "400",
        "rlmm.config.remote.log.metadata.topic.num.partitions": "3",
        "file.delete.delay.ms": "0",
        **tier,
        **extra,
    }


def local_tier(directory: Path) -> dict[str, str]:
    return {BrokerConfig.field_name("remote_log_storage_manager_class_name"): "local", "rsm.config.dir": str(directory)}


def topic_name() -> str:
    return f"tiered-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic() -> str:
    return topic_name()


class S3Server:
    """A ``moto_server`` process on 127.0.0.1 that can be stopped and started again
    (its objects live in memory: a restarted server is empty)."""

    def __init__(self, binary: str, log_path: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, bucket: str = "kafkapy-tiered") -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([self.binary, "-H", "127.0.0.1", "-p", str(self.port)],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"moto_server did not start; see {self.log_path}") from None
                time.sleep(0.1)
        self.client().create_bucket(Bucket=bucket)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEY,
                            aws_secret_access_key=S3_SECRET, region_name=S3_REGION)

    def keys(self, bucket: str = "kafkapy-tiered") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def tier(self, bucket: str = "kafkapy-tiered", prefix: str = "cluster-a/") -> dict[str, str]:
        return {BrokerConfig.field_name("remote_log_storage_manager_class_name"): "s3",
                "rsm.config.s3.bucket": bucket, "rsm.config.s3.endpoint": self.endpoint,
                "rsm.config.s3.region": S3_REGION, "rsm.config.s3.prefix": prefix,
                "rsm.config.s3.access.key.id": S3_KEY, "rsm.config.s3.secret.access.key": S3_SECRET}


def moto_binary() -> str | None:
    here = Path(sys.executable).parent / "moto_server"
    return str(here) if here.exists() else shutil.which("moto_server")


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    binary = moto_binary()
    if binary is None:
        pytest.skip("no S3-compatible server: moto_server is installed by compat_tests/install.sh (moto[server])")
    server = S3Server(binary, tmp_path / "moto.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env_free_of_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials come from the tier's properties, not the developer's AWS setup."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key, raising=False)
