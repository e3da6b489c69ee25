"""kcat (Debian's package, librdkafka 2.0.x), driven as a subprocess per step.

kcat has no admin operations and cannot set a record's timestamp, so topics are
auto-created by its producer (one partition, the broker default) and the timestamps
scenario is n/a; offsets by time uses the CreateTimes librdkafka assigned.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from compat_tests import checks
from compat_tests import failover as failover_stream
from compat_tests import scenarios as sc
from compat_tests.driver import (
    Context,
    Failed,
    NotApplicable,
    expect,
    expect_eq,
    librdkafka_security,
    run_driver,
    scenario_table,
    with_untrusted_certificate,
    with_wrong_password,
)

CLIENT = "kcat"
TIMEOUT = 20.0
KCAT = shutil.which("kcat") or shutil.which("kafkacat") or "kcat"
END_RE = re.compile(r"Reached end of topic \S+ \[0\] at offset (\d+)")
DELIVERED_RE = re.compile(r"Message delivered to partition 0 \(offset (-?\d+)\)")
FAILED_RE = re.compile(r"Delivery failed for message: (.*)")


#: The first librdkafka whose SCRAM client-final-message Kafka 4 accepts: before it the
#: client nonce was appended to the server's nonce a second time, which Kafka 4's strict
#: nonce check (RFC 5802) refuses as invalid credentials (confluentinc/librdkafka#4895).
SCRAM_FIXED = (2, 6, 1)


def _librdkafka_version() -> tuple[int, ...]:
    banner = subprocess.run([KCAT, "-V"], capture_output=True, text=True).stdout
    found = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", banner)
    return tuple(int(part) for part in found.groups()) if found else (0,)


def _connect(ctx: Context) -> list[str]:
    """-b and the run's security settings as -X options.

    Raises:
        NotApplicable: SCRAM with a librdkafka older than :data:`SCRAM_FIXED`.
    """
    if ctx.security.get("mechanism", "").startswith("SCRAM") and _librdkafka_version() < SCRAM_FIXED:
        raise NotApplicable(f"kcat's librdkafka {'.'.join(map(str, _librdkafka_version()))} cannot authenticate"
                            " with SCRAM to Kafka 4 (its client-final-message repeats the client nonce;"
                            " fixed in librdkafka 2.6.1, confluentinc/librdkafka#4895)")
    return ["-b", ctx.bootstrap, *(arg for k, v in librdkafka_security(ctx).items() for arg in ("-X", f"{k}={v}"))]


def _kcat(ctx: Context, args: list[str], stdin: bytes | None = None) -> str:
    proc = subprocess.run([KCAT, *_connect(ctx), *args], input=stdin, capture_output=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        raise Failed(f"kcat {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-400:]}")
    return proc.stdout.decode(errors="replace")


def _lines(records: list[tuple[str | None, str]]) -> bytes:
    """kcat -K '\\t' input: a line without the delimiter has a null key."""
    return "".join(v + "\n" if k is None else f"{k}\t{v}\n" for k, v in records).encode()


def _produce(ctx: Context, topic: str, records: list[tuple[str | None, str]], *args: str) -> None:
    _kcat(ctx, ["-P", "-t", topic, "-K", "\\t", *args], _lines(records))


def _consume(ctx: Context, topic: str, count: int, *args: str) -> list[dict]:
    out = _kcat(ctx, ["-C", "-t", topic, "-o", "beginning", "-e", "-J", "-c", str(count), *args])
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    expect_eq(len(records), count, "records consumed")
    return records


def codec(name: str):
    def scenario(ctx: Context) -> str:
        topic = ctx.name("t")
        _produce(ctx, topic, list(map(sc.codec_record, range(sc.CODEC_COUNT))), "-X", f"compression.codec={name}")
        got = _consume(ctx, topic, sc.CODEC_COUNT)
        return checks.codec([(r["offset"], r["key"], r["payload"]) for r in got])

    return scenario


def keys(ctx: Context) -> str:
    topic = ctx.name("t")
    _produce(ctx, topic, list(map(sc.keys_record, range(sc.KEYS_COUNT))))
    got = _consume(ctx, topic, sc.KEYS_COUNT)
    return checks.keys([(r["partition"], r["offset"], r["key"], r["payload"]) for r in got], 1)


def headers(ctx: Context) -> str:
    topic = ctx.name("t")
    flags = [arg for name, value in sc.HEADERS for arg in ("-H", f"{name}={value}")]
    _produce(ctx, topic, [(None, f"h{i}") for i in range(sc.HEADERS_COUNT)], *flags)
    got = _consume(ctx, topic, sc.HEADERS_COUNT)
    pairs = lambda flat: list(zip(flat[::2], flat[1::2]))
    return checks.headers([(r["offset"], pairs(r.get("headers", []))) for r in got])


def large_message(ctx: Context) -> str:
    topic = ctx.name("t")
    payload = os.urandom(sc.LARGE_SIZE)
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(payload)
        f.flush()
        _kcat(ctx, ["-P", "-t", topic, "-X", "message.max.bytes=2000000", f.name])
    proc = subprocess.run(
        [KCAT, *_connect(ctx), "-C", "-t", topic, "-o", "beginning", "-e", "-c", "1", "-f", "%s"],
        capture_output=True, timeout=TIMEOUT,
    )
    expect_eq(proc.returncode, 0, "kcat consume exit code")
    return checks.large(proc.stdout, payload)


def group_commit_resume(ctx: Context) -> str:
    topic = ctx.name("t")
    group = ctx.name("g")
    _produce(ctx, topic, [(None, f"g{i}") for i in range(sc.GROUP_TOTAL)])
    # kcat -G stores the offset of each message it prints and commits on close.
    group_args = ["-G", group, "-J", "-X", "auto.offset.reset=earliest"]
    first = _kcat(ctx, [*group_args, "-c", str(sc.GROUP_FIRST), topic])
    second = _kcat(ctx, [*group_args, "-c", str(sc.GROUP_TOTAL - sc.GROUP_FIRST), topic])
    offsets = lambda out: [json.loads(line)["offset"] for line in out.splitlines() if line.strip()]
    return checks.group_resume(offsets(first), None, offsets(second))


def idempotent_producer(ctx: Context) -> str:
    topic = ctx.name("t")
    records = [(None, f"idem-{i}") for i in range(sc.IDEMPOTENT_COUNT)]
    _produce(ctx, topic, records, "-X", "enable.idempotence=true", "-X", "acks=all")
    got = _consume(ctx, topic, sc.IDEMPOTENT_COUNT)
    return checks.idempotent([(r["offset"], r["payload"]) for r in got])


def _read_all(ctx: Context, topic: str, isolation: str) -> list[tuple[int, str]]:
    out = _kcat(ctx, ["-C", "-t", topic, "-o", "beginning", "-e", "-J", "-X", f"isolation.level={isolation}"])
    return [(r["offset"], r["payload"]) for r in map(json.loads, filter(str.strip, out.splitlines()))]


def transactions(ctx: Context) -> str:
    # kcat commits its transaction when stdin closes and aborts it on SIGINT. kcat 1.7
    # reads stdin in 1024-byte blocks, so an unterminated (never sent) tail of filler
    # pushes the aborted lines through while stdin stays open.
    topic = ctx.name("t")
    txn = ["-P", "-t", topic, "-X", f"transactional.id={ctx.name('txn')}"]
    _kcat(ctx, txn, _lines([(None, v) for v in sc.TXN_COMMITTED_1]))
    proc = subprocess.Popen([KCAT, *_connect(ctx), *txn], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(_lines([(None, v) for v in sc.TXN_ABORTED]) + b"f" * 1100)
        proc.stdin.flush()
        deadline = time.monotonic() + TIMEOUT
        while sc.TXN_ABORTED[-1] not in [v for _, v in _read_all(ctx, topic, "read_uncommitted")]:
            expect(time.monotonic() < deadline, "open transaction's records never became visible")
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.stdin.close()  # unblocks kcat's read so it sees the signal
        proc.wait(TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    _kcat(ctx, txn, _lines([(None, v) for v in sc.TXN_COMMITTED_2]))
    return checks.transactions(_read_all(ctx, topic, "read_committed"), _read_all(ctx, topic, "read_uncommitted"))


def offsets_for_times(ctx: Context) -> str:
    topic = ctx.name("t")
    for i in range(3):  # one kcat run each, so CreateTimes strictly increase
        _produce(ctx, topic, [(None, f"o{i}")])
        time.sleep(0.01)
    stamps = [r["ts"] for r in _consume(ctx, topic, 3)]
    expect(stamps[0] < stamps[1] < stamps[2], f"CreateTimes not increasing: {stamps}")
    queries = [stamps[0] - 1, stamps[0] + 1, stamps[2], stamps[2] + 1]
    expected = [1 if q == stamps[0] + 1 else next((i for i, ts in enumerate(stamps) if ts >= q), None) for q in queries]
    found = []
    for query in queries:
        answer = json.loads(_kcat(ctx, ["-Q", "-J", "-t", f"{topic}:0:{query}"]))
        offset = answer[topic]["0"]["offset"]
        found.append(None if offset < 0 else offset)
    expect_eq(found, expected, f"offsets for {queries} (CreateTimes {stamps})")
    return f"{len(found)} lookups (-Q)"


def seek(ctx: Context) -> str:
    topic = ctx.name("t")
    _produce(ctx, topic, [(None, f"s{i}") for i in range(sc.SEEK_COUNT)])
    proc = subprocess.Popen(
        [KCAT, *_connect(ctx), "-C", "-t", topic, "-o", "end", "-c", "1", "-J"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        line = b""
        deadline = time.monotonic() + TIMEOUT
        while not END_RE.search(line.decode(errors="replace")):  # kcat reports the resolved end
            expect(time.monotonic() < deadline and proc.poll() is None, "no end-of-partition report")
            line = proc.stderr.readline()
        position = int(END_RE.search(line.decode()).group(1))
        _produce(ctx, topic, [(None, "after-end")])
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = json.loads(out)
    beginning = _consume_from(ctx, topic, "beginning")
    absolute = _consume_from(ctx, topic, "3")
    return checks.seek(position, (after["offset"], after["payload"]), beginning, absolute)


def _consume_from(ctx: Context, topic: str, offset: str) -> int:
    out = _kcat(ctx, ["-C", "-t", topic, "-o", offset, "-c", "1", "-J"])
    return json.loads(out)["offset"]


def failover(ctx: Context) -> str:
    """kcat's producer reports each delivery (-v -v -v) by offset, not by record: with an
    idempotent producer on one partition the n-th report is the n-th record, until a
    report of a failed delivery makes the rest ambiguous. kcat 1.7 reads stdin in 1 KiB
    blocks, so the stream goes out in bursts of about 140 records. kcat creates no
    topics: its producer's Metadata auto-creates the topic with the broker's
    default.replication.factor and min.insync.replicas."""
    failover_stream.require_brokers(len(json.loads(_kcat(ctx, ["-L", "-J"]))["brokers"]))
    topic = ctx.name("t")
    stream = failover_stream.Stream(ctx, topic)
    producer = subprocess.Popen(
        [KCAT, *_connect(ctx), "-P", "-t", topic, "-p", "0", "-X", "enable.idempotence=true", "-X", "acks=all",
         "-X", "linger.ms=5", "-X", "message.timeout.ms=90000", "-v", "-v", "-v"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    consumer: subprocess.Popen[bytes] | None = None
    reports = {"delivered": 0, "failed": 0}

    def watch_deliveries() -> None:
        assert producer.stderr is not None
        for raw in producer.stderr:
            line = raw.decode(errors="replace")
            if (found := DELIVERED_RE.search(line)) and not reports["failed"]:
                stream.delivered(sc.failover_value(reports["delivered"]), int(found.group(1)))
                reports["delivered"] += 1
            elif found := FAILED_RE.search(line):
                reports["failed"] += 1
                stream.failed(found.group(1))

    def read_records() -> None:
        assert consumer is not None and consumer.stdout is not None
        for line in consumer.stdout:
            if line.strip():
                record = json.loads(line)
                stream.read(record["offset"], record["payload"])

    def send(value: str) -> None:
        assert producer.stdin is not None
        producer.stdin.write(f"{value}\n".encode())
        producer.stdin.flush()

    def pump(timeout: float) -> None:
        nonlocal consumer
        if consumer is None and stream.acked:  # the topic exists now
            replicas = json.loads(_kcat(ctx, ["-L", "-J", "-t", topic]))["topics"][0]["partitions"][0]["replicas"]
            if len(replicas) < sc.FAILOVER_REPLICATION:
                raise NotApplicable(f"the topic was auto-created with replication factor {len(replicas)}"
                                    " (the broker's default.replication.factor) and kcat cannot ask for another")
            consumer = subprocess.Popen([KCAT, *_connect(ctx), "-C", "-u", "-t", topic, "-p", "0", "-o", "beginning",
                                         "-J"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            threading.Thread(target=read_records, daemon=True).start()
        time.sleep(timeout)

    threading.Thread(target=watch_deliveries, daemon=True).start()
    try:
        stream.run(send, pump)
        assert producer.stdin is not None
        producer.stdin.close()  # kcat delivers what it has and exits
        expect_eq(producer.wait(60), 0, "kcat producer exit code")
        stream.drain(pump)
    finally:
        for proc in (producer, consumer):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    expect(not reports["failed"], f"kcat reported {reports['failed']} failed deliveries ({stream.failures[:3]});"
                                  " its reports do not say which record failed")
    return stream.check()


def _run(ctx: Context, args: list[str], stdin: bytes | None = None) -> tuple[int, str]:
    """kcat's exit status and its standard error (librdkafka's logs, kcat's errors)."""
    proc = subprocess.run([KCAT, *_connect(ctx), *args], input=stdin, capture_output=True, timeout=TIMEOUT)
    return proc.returncode, proc.stderr.decode(errors="replace")


def _reported(stderr: str, *what: str) -> str:
    line = next((line for line in stderr.splitlines() if any(w in line for w in what)), None)
    expect(line is not None, f"expected {' or '.join(map(repr, what))} in kcat's output: {stderr[-300:]}")
    assert line is not None
    return line.split("]: ")[-1][:160]


def auth_wrong_password(ctx: Context) -> str:
    code, stderr = _run(with_wrong_password(ctx), ["-L", "-m", "5"])
    expect(code != 0, "kcat -L succeeded with a wrong password")
    return _reported(stderr, "SASL authentication error")


def auth_untrusted_certificate(ctx: Context) -> str:
    code, stderr = _run(with_untrusted_certificate(ctx), ["-L", "-m", "5"])
    expect(code != 0, "kcat -L succeeded with an untrusted certificate")
    return _reported(stderr, "SSL alert", "SSL handshake failed")


def acl_topic_write_denied(ctx: Context) -> str:
    code, stderr = _run(ctx, ["-P", "-t", ctx.name("t")], b"denied\n")
    expect(code != 0, "kcat -P succeeded without WRITE")
    return _reported(stderr, "Topic authorization failed")


def acl_group_read_denied(ctx: Context) -> str:
    topic = ctx.name("t")
    _produce(ctx, topic, [(None, "one")])
    proc = subprocess.Popen([KCAT, *_connect(ctx), "-G", ctx.name("g"), "-X", "auto.offset.reset=earliest", topic],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _out, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, stderr = proc.communicate()
    expect(not _out, f"kcat -G consumed without group READ: {_out[:100]!r}")
    return _reported(stderr, "Group authorization failed")


SCENARIOS = scenario_table(globals(), codec, {
    "timestamps": "kcat cannot set a record timestamp when producing",
    "admin": "kcat has no admin operations (it can only list metadata with -L)",
})

if __name__ == "__main__":
    banner = subprocess.run([KCAT, "-V"], capture_output=True, text=True).stdout
    found = re.search(r"Version (\S+) .*?(librdkafka \S+)", banner)
    run_driver(CLIENT, f"kcat {found.group(1)} ({found.group(2)})" if found else "kcat", SCENARIOS)
