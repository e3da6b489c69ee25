"""Fixtures: every log test runs on the file backend and on the memory backend."""

from __future__ import annotations

import dataclasses
import os

import pytest

from kafkapy.config import DEFAULT_LOG_CONFIG, LogConfig
from kafkapy.storage.partition_log import PartitionLog

SMALL = dataclasses.replace(DEFAULT_LOG_CONFIG, internal_segment_bytes=4096, index_interval_bytes=256)


@pytest.fixture(params=["file", "memory"])
def backend(request) -> str:  # type: ignore[no-untyped-def]
    return request.param


@pytest.fixture
def open_log(backend, tmp_path):  # type: ignore[no-untyped-def]
    """``open_log(config=SMALL, **kwargs)`` opens t-0 on the current backend."""
    opened: list[PartitionLog] = []

    def _open(config: LogConfig = SMALL, now_ms: int = 0, **kwargs) -> PartitionLog:  # type: ignore[no-untyped-def]
        directory = None if backend == "memory" else os.path.join(tmp_path, "t-0")
        log = PartitionLog.open(directory, "t", 0, config, now_ms=now_ms, **kwargs)
        opened.append(log)
        return log

    yield _open
    for log in opened:
        log.close()
