"""Listener endpoints: Kafka's ``listeners`` syntax and binding them.

``listeners=PLAINTEXT://127.0.0.1:9092,EXTERNAL://[::1]:9093`` names each endpoint;
an empty host binds every interface, IPv4 and IPv6. Port 0 asks the OS for a free
port (tests); the bound port is reported back through ``serve``'s ``task_status``.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from typing import NamedTuple

# Kafka's own pattern (CoreUtils.listenerListToEndPoints / EndPoint.parse).
_ENDPOINT = re.compile(r"^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$")


class Listener(NamedTuple):
    """An endpoint to listen on: its name, host ("" for all interfaces) and port."""

    name: str
    host: str
    port: int


class BoundAddress(NamedTuple):
    """A socket bound for a listener; ``port`` is the real one when 0 was asked."""

    listener: str
    host: str
    port: int
    family: socket.AddressFamily


def parse_listeners(value: str | Sequence[str]) -> list[Listener]:
    """Parse Kafka's ``listeners`` value, e.g. ``PLAINTEXT://:9092,SSL://[::1]:9093``, or
    its items as the config table's LIST parses it.

    Raises:
        ValueError: a malformed endpoint or a listener name used twice.
    """
    items = value.split(",") if isinstance(value, str) else value
    listeners = []
    for item in filter(None, (part.strip() for part in items)):
        match = _ENDPOINT.match(item)
        if match is None:
            raise ValueError(f"unable to parse {item!r} to a broker endpoint")
        name, host, port = match.group(1), match.group(2), int(match.group(3))
        if not 0 <= port <= 65535:
            raise ValueError(f"invalid port in {item!r}")
        listeners.append(Listener(name.upper(), host, port))
    names = [listener.name for listener in listeners]
    if len(set(names)) != len(names):
        raise ValueError(f"each listener must have a different name: {value!r}")
    return listeners


def bind_listener(listener: Listener, backlog: int) -> list[socket.socket]:
    """Listening non-blocking sockets for every address ``listener.host`` resolves to.

    Resource handling: on failure, sockets already opened are closed.
    """
    host = listener.host or None
    infos = socket.getaddrinfo(
        host, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    # One socket per distinct (family, address); getaddrinfo may repeat entries.
    seen = set()
    sockets: list[socket.socket] = []
    try:
        for family, type_, proto, _, sockaddr in infos:
            key = (family, sockaddr[0])
            if key in seen:
                continue
            seen.add(key)
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # Keep IPv4 and IPv6 on separate sockets, as every address is bound.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bound_address(listener: Listener, sock: socket.socket) -> BoundAddress:
    host, port = sock.getsockname()[:2]
    return BoundAddress(listener.name, host, port, socket.AddressFamily(sock.family))


def bind_all(
    listeners: Sequence[Listener], backlog: int
) -> list[tuple[Listener, socket.socket]]:
    """Bind every listener; all or nothing."""
    bound: list[tuple[Listener, socket.socket]] = []
    try:
        for listener in listeners:
            bound.extend((listener, sock) for sock in bind_listener(listener, backlog))
    except BaseException:
        for _, sock in bound:
            sock.close()
        raise
    return bound
