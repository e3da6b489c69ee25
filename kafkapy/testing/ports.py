"""Ports for processes that a test starts and that bind them later.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from the ephemeral
range, from which it also picks the local port of every outgoing connection: between
choosing the port and the child process binding it (a second or two of imports), any
client connection on the machine may take it, and the child fails with "Address already
in use". Ports below the ephemeral range are never given to outgoing connections, so
they are chosen there, at random and checked free, and handed out once per process.
"""

from __future__ import annotations

import random
import socket

_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
#: Below this are well-known and registered services more often bound on a machine.
_LOWEST = 10_000
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open(_RANGE_FILE) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default range starts here


def bindable(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1 now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing binds now and that outgoing connections never take.

    Falls back to a kernel-chosen (ephemeral) port when no port below the ephemeral range
    is free after a bounded number of tries.
    """
    high = _ephemeral_low() - 1
    if high > _LOWEST:
        for _ in range(200):
            port = random.randint(_LOWEST, high)
            if port not in _handed_out and bindable(port):
                _handed_out.add(port)
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports, as :func:`free_port`."""
    return [free_port() for _ in range(count)]
