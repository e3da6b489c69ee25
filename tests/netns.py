"""A network namespace of a test's own, so that a replayed README command can listen on
the README's fixed ports (9092, ...) whatever else runs on the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from kafkapy.testing.ports import bindable


class Namespace:
    """A network namespace with loopback up, held by one sleeping process of ours."""

    def __init__(self) -> None:
        self.holder: subprocess.Popen | None = None

    def start(self) -> bool:
        if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
            return False
        self.holder = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 900"])
        ns = Path(f"/proc/{self.holder.pid}/ns/net")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.holder.poll() is None:
            if ns.exists() and os.readlink(ns) != os.readlink("/proc/self/ns/net") and self._lo_up():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _lo_up(self) -> bool:
        out = subprocess.run(self.wrap(["ip", "-o", "link", "show", "lo"]), capture_output=True, text=True,
                             timeout=10, check=False)
        return "UP" in out.stdout

    def wrap(self, args: Sequence[str]) -> list[str]:
        if self.holder is None:
            return list(args)
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *args]

    def stop(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(10)


@contextmanager
def namespace_for(ports: range) -> Iterator[Namespace]:
    """A namespace of our own, else the host's network if ``ports`` are free there,
    else the test is skipped."""
    ns = Namespace()
    if not ns.start() and not all(bindable(port) for port in ports):
        pytest.skip(f"ports {ports.start}-{ports.stop - 1} are taken and no network namespace can be made "
                    "here (needs root)")
    try:
        yield ns
    finally:
        ns.stop()
