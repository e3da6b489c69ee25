"""Memory a peer can make the server hold: frames grow as their bytes arrive, and
``queued.max.request.bytes`` bounds what is read but not yet handled (Kafka's
SimpleMemoryPool), with back-pressure instead of failures."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio.testing
import trio

from kafkapy.server import Listener, ServerSettings, serve
from kafkapy.server.memory import MemoryPool

from .helpers import RawDispatcher, connect, frame, read_response

_I32 = struct.Struct(">i")
_Q = struct.Struct(">q")
MiB = 1024 * 1024


@asynccontextmanager
async def _server(
    nursery: trio.Nursery, dispatcher: RawDispatcher, settings: ServerSettings, memory: MemoryPool
) -> AsyncIterator:
    addresses = await nursery.start(
        lambda task_status: serve(
            [Listener("PLAINTEXT", "127.0.0.1", 0)],
            dispatcher,
            settings=settings,
            memory=memory,
            task_status=task_status,
        )
    )
    yield addresses[0]


async def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


@pytest.fixture
def traced() -> AsyncIterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


async def test_size_headers_alone_allocate_nothing_like_their_size(nursery, traced):
    memory = MemoryPool()
    dispatcher = RawDispatcher()
    async with _server(nursery, dispatcher, ServerSettings(), memory) as address:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        streams = []
        for _ in range(20):
            stream = await trio.open_tcp_stream(address.host, address.port)
            streams.append(stream)
            # 100 MiB announced, 4 bytes and a few more sent.
            await stream.send_all(_I32.pack(100 * MiB) + b"E" * 100)
        await trio.sleep(0.3)  # let the server read them all
        # A connection still answers while the 20 wait.
        async with connect(address) as other:
            await other.send_all(frame(b"Ehello"))
            assert await read_response(other) == b"Ehello.."
        _, peak = tracemalloc.get_traced_memory()
        # Each one holds its 104 bytes, not a buffer of the announced size (2 GiB).
        assert peak - base < 4 * MiB
        # Parked, they hold no receive buffer either.
        await _until(lambda: memory.reserved == 0)
        for stream in streams:
            await stream.aclose()


async def test_a_dribbled_frame_holds_about_what_was_sent(nursery, traced):
    memory = MemoryPool()
    dispatcher = RawDispatcher()
    async with _server(nursery, dispatcher, ServerSettings(), memory) as address:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        async with connect(address) as stream:
            await stream.send_all(_I32.pack(100 * MiB) + b"E")
            sent = 0
            for _ in range(32):
                await stream.send_all(b"d" * 65536)
                sent += 65536
                await trio.sleep(0.005)
            await trio.sleep(0.2)
            _, peak = tracemalloc.get_traced_memory()
            # The buffer doubles at most: about 2 MiB for 2 MiB sent, not 100 MiB.
            assert peak - base < 4 * sent + 2 * MiB
            # Kafka's NetworkReceive reserves the announced size in the pool.
            assert memory.reserved >= 100 * MiB


async def test_large_frames_arrive_whole_and_give_their_memory_back(nursery):
    memory = MemoryPool()
    dispatcher = RawDispatcher()
    async with _server(nursery, dispatcher, ServerSettings(), memory) as address:
        async with connect(address) as stream:
            for size in (70_000, 3 * MiB, 9 * MiB + 17):
                payload = b"E" + bytes(range(256)) * (size // 256) + b"z" * (size % 256)
                async with trio.open_nursery() as inner:
                    inner.start_soon(stream.send_all, frame(payload))
                    assert await read_response(stream) == payload
    await _until(lambda: memory.reserved == 0)


def _held(key: int, size: int) -> bytes:
    """A frame of ``size`` bytes the dispatcher holds until gate ``key`` opens."""
    return frame(b"W" + _Q.pack(key) + b"x" * (size - 9))


async def test_queued_max_request_bytes_stops_reading_and_never_fails(nursery):
    capacity = 256 * 1024
    request = 200 * 1024
    settings = ServerSettings(socket_request_max_bytes=capacity, queued_max_request_bytes=capacity)
    memory = MemoryPool(settings.queued_max_request_bytes)
    dispatcher = RawDispatcher()
    answers: list[int] = []

    async def client(key: int, address) -> None:
        async with connect(address) as stream:
            await stream.send_all(_held(key, request))
            answer = await read_response(stream)
            assert answer is not None and len(answer) == request
            answers.append(key)

    async with _server(nursery, dispatcher, settings, memory) as address:
        async with trio.open_nursery() as clients:
            for key in range(8):
                clients.start_soon(client, key, address)
            # The budget is spent by the requests being handled: the rest wait unread.
            await _until(lambda: memory.waits > 0 and memory.out_of_memory)
            await trio.sleep(0.2)
            arrived = [k for k in range(8) if dispatcher.arrived(k).is_set()]
            assert 1 <= len(arrived) < 8
            # Non-strict, as Kafka's pool: over the budget by one reservation at most.
            assert memory.peak_reserved < capacity + request + settings.receive_buffer_bytes
            for key in range(8):
                dispatcher.gate(key).set()
        assert sorted(answers) == list(range(8))
        assert memory.peak_reserved < capacity + request + settings.receive_buffer_bytes
    await _until(lambda: memory.reserved == 0)


def test_queued_bytes_below_the_request_maximum_is_refused():
    # KafkaConfig.validateValues: queued.max.request.bytes >= socket.request.max.bytes.
    with pytest.raises(ValueError, match="larger or equal"):
        ServerSettings(socket_request_max_bytes=1000, queued_max_request_bytes=999)
    ServerSettings(socket_request_max_bytes=1000, queued_max_request_bytes=-1)


async def test_pool_wakes_waiters_when_bytes_come_back():
    pool = MemoryPool(100)
    assert pool.try_reserve(150)  # non-strict: any budget left grants the whole size
    assert not pool.try_reserve(1)
    got = []

    async def waiter() -> None:
        await pool.reserve(10)
        got.append(10)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert got == [] and pool.waits == 1
        pool.release(150)
    assert got == [10] and pool.reserved == 10 and pool.peak_reserved == 150
