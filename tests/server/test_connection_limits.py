"""Connection limits as Kafka's ConnectionQuotas enforces them: max.connections blocks
accepting (KIP-402), per-IP caps close the new connection at once, creation rates
delay accepting (KIP-612), and the inter-broker listener is protected."""

from __future__ import annotations

from collections.abc import Callable

import trio

from kafkapy.server import Listener, ServerSettings, serve
from kafkapy.server.quotas import MAX_THROTTLE_S, ConnectionQuotas, _Rate

from .helpers import RawDispatcher, assert_closed, connect, frame, read_response


async def _start(nursery, listeners, settings: ServerSettings, quotas: ConnectionQuotas):
    addresses = await nursery.start(
        lambda task_status: serve(
            listeners, RawDispatcher(), settings=settings, quotas=quotas, task_status=task_status
        )
    )
    return {a.listener: a for a in addresses}


async def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


async def _ping(stream, text: bytes = b"Eping") -> None:
    await stream.send_all(frame(text))
    assert await read_response(stream) == text.ljust(8, b".")


def _readable_now(stream: trio.SocketStream) -> bool:
    import select

    return bool(select.select([stream.socket.fileno()], [], [], 0)[0])


async def test_max_connections_blocks_accepting_until_a_slot_frees(nursery):
    settings = ServerSettings(max_connections=2)
    quotas = ConnectionQuotas(settings)
    address = (await _start(nursery, [Listener("PLAINTEXT", "127.0.0.1", 0)], settings, quotas))["PLAINTEXT"]
    async with connect(address) as one, connect(address) as two:
        await _ping(one)
        await _ping(two)
        # The third TCP connect completes in the listen backlog, but is not accepted.
        async with connect(address) as third:
            await third.send_all(frame(b"Ewaited"))
            await _until(lambda: quotas.blocked == 1)
            await trio.sleep(0.1)
            assert quotas.total == 2 and not _readable_now(third)
            await one.aclose()
            # Accepted as soon as a slot is free: answered, not refused.
            with trio.fail_after(10):
                assert await read_response(third) == b"Ewaited."
        await _ping(two)


async def test_listener_max_connections_blocks_only_that_listener(nursery):
    settings = ServerSettings(listener_max_connections={"EXTERNAL": 1})
    quotas = ConnectionQuotas(settings)
    listeners = [Listener("PLAINTEXT", "127.0.0.1", 0), Listener("EXTERNAL", "127.0.0.1", 0)]
    addresses = await _start(nursery, listeners, settings, quotas)
    async with connect(addresses["EXTERNAL"]) as first, connect(addresses["EXTERNAL"]) as second:
        await _ping(first)
        await second.send_all(frame(b"Ewaited"))
        await _until(lambda: quotas.blocked == 1)
        async with connect(addresses["PLAINTEXT"]) as other:
            await _ping(other)
        assert not _readable_now(second)
        await first.aclose()
        with trio.fail_after(10):
            assert await read_response(second) == b"Ewaited."


async def test_per_ip_cap_closes_the_new_connection_at_once(nursery):
    settings = ServerSettings(max_connections_per_ip=2)
    quotas = ConnectionQuotas(settings)
    address = (await _start(nursery, [Listener("PLAINTEXT", "127.0.0.1", 0)], settings, quotas))["PLAINTEXT"]
    async with connect(address) as one, connect(address) as two:
        await _ping(one)
        await _ping(two)
        async with connect(address) as third:
            with trio.fail_after(10):
                await assert_closed(third)
        assert quotas.rejected == 1 and quotas.per_ip["127.0.0.1"] == 2
        await _ping(one)


async def test_inter_broker_listener_is_exempt_and_makes_room(nursery):
    settings = ServerSettings(max_connections=2, inter_broker_listener_name="REPLICATION")
    quotas = ConnectionQuotas(settings)
    listeners = [Listener("EXTERNAL", "127.0.0.1", 0), Listener("REPLICATION", "127.0.0.1", 0)]
    addresses = await _start(nursery, listeners, settings, quotas)
    async with connect(addresses["EXTERNAL"]) as old, connect(addresses["EXTERNAL"]) as recent:
        await _ping(old)
        await _ping(recent)
        # Clients hold every slot; a broker still gets in, and a client connection
        # (the least recently active) is closed to make room.
        async with connect(addresses["REPLICATION"]) as broker:
            with trio.fail_after(10):
                await _ping(broker)
                await assert_closed(old)
            await _ping(recent)
            assert quotas.blocked == 0
            await _until(lambda: quotas.total == 2)


async def test_connection_creation_rate_delays_accepting(nursery):
    settings = ServerSettings(max_connection_creation_rate=4)
    quotas = ConnectionQuotas(settings)
    address = (await _start(nursery, [Listener("PLAINTEXT", "127.0.0.1", 0)], settings, quotas))["PLAINTEXT"]

    async def client(n: int) -> None:
        async with connect(address) as stream:
            await _ping(stream, b"E%d" % n)

    with trio.fail_after(30):
        async with trio.open_nursery() as clients:
            for n in range(10):
                clients.start_soon(client, n)
    # One second's worth went at once, the rest were held back, none refused.
    assert quotas.throttled >= 5 and quotas.rejected == 0


def test_rate_is_a_one_second_bucket():
    rate = _Rate(4, now=0.0)
    assert [rate.record(0.0) for _ in range(4)] == [0.0] * 4
    assert rate.record(0.0) == 0.25
    assert rate.record(0.0) == 0.5
    # Refilled at 4 per second, never beyond one second's worth.
    assert rate.record(10.0) == 0.0
    assert _Rate(0, 0.0).record(0.0) == MAX_THROTTLE_S


def test_inter_broker_listener_alone_is_not_protected():
    settings = ServerSettings(max_connections=1, inter_broker_listener_name="PLAINTEXT")
    quotas = ConnectionQuotas(settings, clock=lambda: 0.0)
    quotas.add_listener("PLAINTEXT")
    assert not quotas.protected("PLAINTEXT")
    quotas.add_listener("EXTERNAL")
    assert quotas.protected("PLAINTEXT") and not quotas.protected("EXTERNAL")


async def test_raising_max_connections_lets_a_waiting_connection_in(nursery):
    settings = ServerSettings(max_connections=1)
    quotas = ConnectionQuotas(settings)
    address = (await _start(nursery, [Listener("PLAINTEXT", "127.0.0.1", 0)], settings, quotas))["PLAINTEXT"]
    async with connect(address) as one, connect(address) as two:
        await _ping(one)
        await two.send_all(frame(b"Ewaited"))
        await _until(lambda: quotas.blocked == 1)
        # A dynamic config change (AlterConfigs max.connections), no connection closed.
        quotas.update(ServerSettings(max_connections=2))
        with trio.fail_after(10):
            assert await read_response(two) == b"Ewaited."
        assert quotas.total == 2


def test_ip_connection_rate_refuses_without_counting_and_a_named_ip_wins():
    now = [0.0]
    quotas = ConnectionQuotas(ServerSettings(), clock=lambda: now[0])
    assert not quotas.ip_rates_enabled and quotas.record_ip_connection("10.0.0.1") == 0.0
    quotas.update_ip_connection_rates(2, {"10.0.0.9": 100})
    assert [quotas.record_ip_connection("10.0.0.1") for _ in range(2)] == [0.0, 0.0]  # a bucket of two
    refused = quotas.record_ip_connection("10.0.0.1")
    assert 0 < refused <= MAX_THROTTLE_S and quotas.ip_throttled == 1
    assert quotas.record_ip_connection("10.0.0.1") > 0  # a refused connection took no token
    now[0] += 0.5  # one token back at 2/s
    assert quotas.record_ip_connection("10.0.0.1") == 0.0
    assert all(quotas.record_ip_connection("10.0.0.9") == 0.0 for _ in range(50))  # its own quota
    quotas.update_ip_connection_rates(None, {})
    assert quotas.record_ip_connection("10.0.0.1") == 0.0 and not quotas.ip_rates_enabled
