"""Server costs over loopback: small requests, pipelining, 1 MiB frames in, sendfile out.

Run: .venv/bin/python benchmarks/server.py [--seconds 1]   (from the repository root)

The server (kafkapy.server.serve with a trivial dispatcher) runs in a child process;
this process is the client, on plain blocking sockets. Small requests and responses
are 100 B each way (104 B framed). "same" pins client and server to one CPU (no
cross-CPU wake-up per round trip), "split" to one CPU each. Server CPU per request is
from /proc/<pid>/stat. Each figure is the best of three runs. Compare with
../shared/research/ceilings.md on this machine kind: raw non-blocking trio server
137k req/s sequential at 3.8 us CPU per request, 1.04M req/s 16 in flight; 1 MiB
frames in 2.8 GB/s (4.5 GB/s 4 in flight); sendfile out ~2.0 GB/s.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MIB = 1 << 20
SMALL = 100
_I32 = struct.Struct(">i")
SMALL_REQUEST = _I32.pack(SMALL) + b"e" + bytes(SMALL - 1)
SMALL_RESPONSE_BYTES = 4 + SMALL
ACK_BYTES = 4 + 16
FETCH_REQUEST = _I32.pack(8) + b"f" + bytes(7)


# ---------------------------------------------------------------- server side


def run_server(file_path: str) -> None:
    """Serve on 127.0.0.1 (a free port, printed) until SIGTERM."""
    import trio

    from kafkapy.server import Listener, serve
    from kafkapy.wire.buffers import FileRegion

    fd = os.open(file_path, os.O_RDONLY)
    small = [_I32.pack(SMALL) + bytes(SMALL)]
    ack = [_I32.pack(16) + bytes(16)]
    region = [_I32.pack(MIB), FileRegion(fd, 0, MIB)]

    class Trivial:
        async def handle(self, conn, frame):
            kind = frame[0]
            if kind == 0x65:  # e: a 100 B answer
                return small
            if kind == 0x70:  # p: a big "produce", small ack
                return ack
            return region  # f: a 1 MiB "fetch" from the file, by sendfile

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGTERM) as signals:

            async def until_sigterm() -> None:
                async for _ in signals:
                    return

            async with trio.open_nursery() as nursery:
                (address,) = await nursery.start(
                    lambda task_status: serve(
                        [Listener("PLAINTEXT", "127.0.0.1", 0)],
                        Trivial(),
                        shutdown_trigger=until_sigterm,
                        task_status=task_status,
                    )
                )
                print(address.port, flush=True)

    trio.run(main)


# ---------------------------------------------------------------- client side


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recv_bytes(sock: socket.socket, buf: memoryview, n: int) -> None:
    """Read and discard exactly n bytes."""
    while n:
        got = sock.recv_into(buf[: min(n, len(buf))])
        if not got:
            raise ConnectionError("server closed")
        n -= got


def small_requests(sock: socket.socket, seconds: float, in_flight: int) -> int:
    """Requests answered: batches of ``in_flight`` sent at once, then all answers read."""
    request = SMALL_REQUEST * in_flight
    expect = SMALL_RESPONSE_BYTES * in_flight
    buf = memoryview(bytearray(1 << 16))
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            sock.sendall(request)
            recv_bytes(sock, buf, expect)
        done += 100 * in_flight
    return done


def produce_frames(sock: socket.socket, seconds: float, in_flight: int) -> int:
    """Bytes of 1 MiB frames acknowledged, ``in_flight`` outstanding."""
    frame = _I32.pack(MIB) + b"p" + bytes(MIB - 1)
    buf = memoryview(bytearray(1 << 16))
    for _ in range(in_flight):
        sock.sendall(frame)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        recv_bytes(sock, buf, ACK_BYTES)
        done += 1
        sock.sendall(frame)
    recv_bytes(sock, buf, ACK_BYTES * in_flight)
    return done * MIB


def fetch_regions(sock: socket.socket, seconds: float, in_flight: int) -> int:
    """Bytes of 1 MiB file regions received, ``in_flight`` requests outstanding."""
    buf = memoryview(bytearray(4 * MIB))
    sock.sendall(FETCH_REQUEST * in_flight)
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        recv_bytes(sock, buf, 4 + MIB)
        done += 1
        sock.sendall(FETCH_REQUEST)
    recv_bytes(sock, buf, (4 + MIB) * in_flight)
    return done * MIB


def measure(
    pid: int,
    port: int,
    cpus: str,
    fn: Callable[[socket.socket, float, int], int],
    seconds: float,
    in_flight: int,
    runs: int = 3,
) -> tuple[float, float]:
    """Best of ``runs`` timed runs: (units per second, server CPU seconds per unit)."""
    os.sched_setaffinity(pid, {0})
    os.sched_setaffinity(0, {0} if cpus == "same" else {1})
    best = (0.0, 0.0)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fn(sock, 0.2, in_flight)  # warm up
        for _ in range(runs):
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            units = fn(sock, seconds, in_flight)
            elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
            if units / elapsed > best[0]:
                best = (units / elapsed, cpu / units)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per run; best of 3")
    parser.add_argument("--serve", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve)
        return
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two CPUs")
    with tempfile.NamedTemporaryFile() as data:
        data.write(os.urandom(MIB))
        data.flush()
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", data.name],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            port = int(child.stdout.readline())
            print(
                f"kafkapy.server, loopback, best of 3 runs of {args.seconds:g} s per figure"
            )
            for cpus in ("same", "split"):
                for in_flight in (1, 16):
                    rate, cpu = measure(
                        child.pid, port, cpus, small_requests, args.seconds, in_flight
                    )
                    print(
                        f"  small 100 B, {in_flight:2d} in flight, CPUs {cpus:5s}: "
                        f"{rate / 1000:8.1f}k req/s   server CPU {cpu * 1e6:5.2f} us/req"
                    )
            bulk = (
                ("1 MiB frames in", produce_frames),
                ("sendfile 1 MiB out", fetch_regions),
            )
            for name, fn in bulk:
                for in_flight in (1, 4):
                    rate, cpu = measure(
                        child.pid, port, "split", fn, args.seconds, in_flight
                    )
                    print(
                        f"  {name:18s} {in_flight} in flight, CPUs split: {rate / 1e9:5.2f} GB/s"
                        f"   server CPU {cpu * 1e9:5.2f} s/GB"
                    )
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=10)


if __name__ == "__main__":
    main()
