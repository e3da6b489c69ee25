"""Real small filesystems for full-disk tests: a tmpfs of a given size, mounted for one
test and unmounted after it. Mounting needs root (CI and this machine run tests as
root); without it the test is skipped, saying why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def mounted_tmpfs(path: str, size: int) -> Iterator[str]:
    """A tmpfs of ``size`` bytes mounted at ``path`` (created if missing) for the block."""
    os.makedirs(path, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                            capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)
