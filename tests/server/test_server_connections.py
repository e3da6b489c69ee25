"""Many connections: concurrency, isolation of failures, caps, idle expiry, accept errors."""

from __future__ import annotations

import errno
import logging
import socket

import pytest
import trio
import trio.testing

from kafkapy.server import Listener, ServerSettings, parse_listeners, serve
from kafkapy.server.serve import _Server
from kafkapy.server.settings import parse_connection_overrides

from .helpers import (
    RawDispatcher,
    assert_closed,
    command,
    connect,
    frame,
    read_response,
)


async def test_many_concurrent_connections_keep_their_own_order(run_server, dispatcher):
    # A backlog above the burst of connects: a dropped SYN is retried only after 1 s.
    address = await run_server(
        dispatcher, ServerSettings(socket_listen_backlog_size=128)
    )

    async def client(n: int) -> None:
        async with connect(address) as stream:
            payloads = [b"E%03d-%03d" % (n, i) for i in range(20)]
            await stream.send_all(b"".join(frame(p) for p in payloads[:10]))
            for p in payloads[:10]:
                assert await read_response(stream) == p
            for p in payloads[10:]:
                await stream.send_all(frame(p))
                assert await read_response(stream) == p

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for n in range(100):
                nursery.start_soon(client, n)
    assert len(dispatcher.seen) == 2000
    assert len({conn_id for conn_id, _ in dispatcher.seen}) == 100


async def test_a_slow_request_does_not_block_other_connections(run_server, dispatcher):
    address = await run_server(dispatcher)
    async with connect(address) as slow, connect(address) as fast:
        await slow.send_all(command(b"W", 7))
        await dispatcher.arrived(7).wait()
        for i in range(5):
            await fast.send_all(frame(b"E%d" % i))
            assert await read_response(fast) == b"E%d......" % i
        dispatcher.gate(7).set()
        assert (await read_response(slow))[:1] == b"W"


async def test_dispatcher_bug_closes_only_that_connection(
    run_server, dispatcher, caplog
):
    address = await run_server(dispatcher)
    async with connect(address) as healthy, connect(address) as broken:
        await healthy.send_all(frame(b"Ebefore"))
        assert await read_response(healthy) == b"Ebefore."
        await broken.send_all(frame(b"Eok") + frame(b"X") + frame(b"Enever"))
        assert await read_response(broken) == b"Eok....."
        await assert_closed(broken)
        await healthy.send_all(frame(b"Eafter"))
        assert await read_response(healthy) == b"Eafter.."
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and "dispatcher bug" in str(
        errors[0].exc_info[1]
    )


async def _connects_and_is_served(address) -> bool:
    async with connect(address) as stream:
        # Closed at once: the send fails, or it gets through and the read meets the reset.
        try:
            await stream.send_all(frame(b"Eping"))
            return await read_response(stream) is not None
        except trio.BrokenResourceError:
            return False


async def test_per_ip_cap_and_overrides(run_server, dispatcher):
    settings = ServerSettings(max_connections_per_ip=0)
    address = await run_server(dispatcher, settings)
    assert not await _connects_and_is_served(address)

    settings = ServerSettings(
        max_connections_per_ip=0, max_connections_per_ip_overrides={"127.0.0.1": 1}
    )
    address = await run_server(RawDispatcher(), settings)
    async with connect(address) as first:
        await first.send_all(frame(b"Ehi"))
        assert await read_response(first) == b"Ehi....."
        assert not await _connects_and_is_served(address)


async def test_idle_connections_are_closed(autojump_clock, run_server, dispatcher):
    settings = ServerSettings(connections_max_idle_ms=10_000)
    address = await run_server(dispatcher, settings)
    async with connect(address) as stream:
        start = trio.current_time()
        # Requests every 6 s keep it open well past the idle limit...
        for i in range(5):
            await trio.sleep(6)
            await stream.send_all(frame(b"E%d" % i))
            assert await read_response(stream) == b"E%d......" % i
        last = trio.current_time()
        assert last - start >= 30
        # ...then 10 s without one closes it.
        await assert_closed(stream)
        assert trio.current_time() - last >= 10


async def test_a_request_in_flight_is_not_idle(autojump_clock, run_server, dispatcher):
    address = await run_server(
        dispatcher, ServerSettings(connections_max_idle_ms=1_000)
    )
    async with connect(address) as stream:
        await stream.send_all(command(b"W", 1))
        await dispatcher.arrived(1).wait()
        await trio.sleep(5)
        dispatcher.gate(1).set()
        assert (await read_response(stream))[:1] == b"W"


async def test_accept_out_of_files_logs_once_and_retries(autojump_clock, caplog):
    class OutOfFiles(socket.socket):
        failures = 5

        def accept(self):
            if self.failures:
                self.failures -= 1
                raise OSError(errno.EMFILE, "Too many open files")
            return super().accept()

    lsock = OutOfFiles(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen()
    lsock.setblocking(False)
    server = _Server(RawDispatcher(), ServerSettings())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            server.accept_loop, Listener("PLAINTEXT", "", 0), lsock, nursery
        )
        stream = await trio.open_tcp_stream(*lsock.getsockname())
        await stream.send_all(frame(b"Eserved"))
        assert await read_response(stream) == b"Eserved."
        await stream.aclose()
        nursery.cancel_scope.cancel()
    lsock.close()
    retries = [r for r in caplog.records if "EMFILE" in r.getMessage()]
    assert len(retries) == 1  # one line for the episode, not one per retry
    assert lsock.failures == 0
    assert any("works again" in r.getMessage() for r in caplog.records)


async def test_ipv6_listener(nursery, dispatcher):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        addresses = await nursery.start(
            lambda task_status: serve(
                [Listener("V4", "127.0.0.1", 0), Listener("V6", "::1", 0)],
                dispatcher,
                task_status=task_status,
            )
        )
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    assert [(a.listener, a.family) for a in addresses] == [
        ("V4", socket.AF_INET),
        ("V6", socket.AF_INET6),
    ]
    for address in addresses:
        async with connect(address) as stream:
            await stream.send_all(frame(b"E" + address.listener.encode()))
            assert (await read_response(stream))[:3] == b"E" + address.listener.encode()
    assert [conn for conn, _ in dispatcher.seen][1].startswith("::1:")


def test_parse_listeners():
    assert parse_listeners(
        "PLAINTEXT://127.0.0.1:9092, external://[::1]:0,ALL://:9093"
    ) == [
        Listener("PLAINTEXT", "127.0.0.1", 9092),
        Listener("EXTERNAL", "::1", 0),
        Listener("ALL", "", 9093),
    ]
    for bad in ("127.0.0.1:9092", "A://h:99999", "A://h:1,A://h:2"):
        with pytest.raises(ValueError):
            parse_listeners(bad)


def test_settings_from_broker_config():
    from kafkapy.config import BrokerConfig

    props = {
        BrokerConfig.field_name("socket_request_max_bytes"): "1000",
        BrokerConfig.field_name("max_connections_per_ip"): "5",
        BrokerConfig.field_name(
            "max_connections_per_ip_overrides"
        ): "127.0.0.1:7, ::1:8,localhost:9",
    }
    settings = ServerSettings.from_broker_config(
        BrokerConfig.from_properties(props), shutdown_grace_ms=10
    )
    assert settings.socket_request_max_bytes == 1000
    assert settings.connections_max_idle_ms == 600_000
    assert settings.shutdown_grace_ms == 10
    assert settings.max_connections_for("10.0.0.1") == 5
    assert (
        settings.max_connections_for("127.0.0.1") == 9
    )  # localhost, listed last, wins
    assert settings.max_connections_for("::1") in (8, 9)
    with pytest.raises(ValueError):
        parse_connection_overrides("127.0.0.1")
