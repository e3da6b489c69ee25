"""The acceptor thread (kafkapy.server.acceptor): it accepts while allowed, hands the
sockets over oldest first, pauses while a quota says wait, and closes what nobody took."""

from __future__ import annotations

import socket

import trio

from kafkapy.server.acceptor import Acceptor


def _listening(backlog: int = 64) -> socket.socket:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(backlog)
    lsock.setblocking(False)
    return lsock


async def _take(acceptor: Acceptor, n: int) -> list:
    taken: list = []
    with trio.fail_after(10):
        while len(taken) < n:
            await acceptor.wait()
            taken += acceptor.take(n - len(taken))
    return taken


async def test_accepts_in_order_and_closes_what_was_not_taken():
    lsock = _listening()
    acceptor = Acceptor(lsock, "T", lambda: True)
    clients = []
    try:
        for _ in range(5):
            clients.append(socket.create_connection(lsock.getsockname()))
            # one at a time, so the order the thread accepted them in is known
            (sock, peer), = await _take(acceptor, 1)
            assert peer == clients[-1].getsockname()
            sock.close()
        clients.append(socket.create_connection(lsock.getsockname()))
        with trio.fail_after(10):
            while not acceptor._ready:  # accepted by the thread, never taken
                await trio.sleep(0.01)
        left = acceptor._ready[0]
    finally:
        acceptor.close()
        lsock.close()
    assert left[0].fileno() == -1
    for client in clients:
        client.close()


async def test_pauses_while_not_allowed():
    lsock = _listening()
    allowed = False
    acceptor = Acceptor(lsock, "T", lambda: allowed, pause_s=0.005)
    client = socket.create_connection(lsock.getsockname())
    try:
        await acceptor.wait()  # the thread says it paused
        await trio.sleep(0.05)
        assert acceptor.take(10) == []
        # still in the kernel's backlog: the listening socket has it
        sock, _ = lsock.accept()
        sock.close()
        allowed = True
        second = socket.create_connection(lsock.getsockname())
        (sock, peer), = await _take(acceptor, 1)
        assert peer == second.getsockname()
        sock.close()
        second.close()
    finally:
        acceptor.close()
        lsock.close()
        client.close()

