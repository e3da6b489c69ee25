"""The scenario set every client family implements, and the data each one uses.

Every driver (Python, Java, Go, Node.js, kcat) implements the same scenarios with the
same data and the same checks, so a cell of the matrix means the same thing in every
column. The constants here are mirrored by the non-Python drivers; the text of each
scenario is its specification.
"""

from __future__ import annotations

import time

SCENARIOS: dict[str, str] = {
    "codec_none": "produce 20 keyed records uncompressed, consume them back from offset 0",
    "codec_gzip": "same as codec_none with compression.type=gzip",
    "codec_snappy": "same as codec_none with compression.type=snappy",
    "codec_lz4": "same as codec_none with compression.type=lz4",
    "codec_zstd": "same as codec_none with compression.type=zstd",
    "keys": "30 records to a 3-partition topic, keys user-0..3 and null; every record"
    " arrives once, null keys stay null, one partition per key, per-key order kept",
    "headers": "3 records carrying the header list HEADERS (duplicates, UTF-8, empty"
    " value); consumed headers equal it, in order",
    "timestamps": "3 records with explicit CreateTime timestamps (a day ago, +1 ms,"
    " +1 s); consumed timestamps and type equal them",
    "large_message": "one 1,000,000-byte random value, consumed back byte for byte",
    "group_commit_resume": "consumer in group G reads 6 of 10 records, commits offset 6,"
    " closes; a new consumer in G starts at offset 6 and reads 6..9",
    "idempotent_producer": "enable.idempotence=true, acks=all: 50 records, consumed"
    " exactly once each, in order, at offsets 0..49",
    "transactions": "txn 1 (3 records) committed, txn 2 (3) aborted, txn 3 (2)"
    " committed; read_committed sees txn 1+3 at offsets 0-2, 8-9; read_uncommitted sees all 8",
    "admin": "create a topic (3 partitions, retention.ms=123456789), describe it and its"
    " configs, alter retention.ms to 987654321, see the change, delete it, see it gone; each"
    " look is repeated until it holds, for at most 15 s: on a cluster a broker learns a change"
    " a moment after the controller acknowledged it, and clients ask any broker",
    "offsets_for_times": "records at t, t+1000, t+2000: lookup(t-1)=0, lookup(t+500)=1,"
    " lookup(t+2000)=2, lookup(t+2001)=end (none)",
    "seek": "5 records; seek to end = position 5, a record produced then is read at 5;"
    " seek to beginning reads offset 0; seek to offset 3 reads offset 3",
    "failover": "on 3 or more brokers (n/a on fewer): a topic of 1 partition with replication"
    " factor 3 and min.insync.replicas=2; an idempotent acks=all producer sends fo-0, fo-1, ..."
    " one every 10 ms while a consumer reads the partition from offset 0; after 20 acknowledged"
    " records the driver prints an 'await' line naming the topic and keeps producing; the harness"
    " SIGKILLs the partition's leader, waits for another leader, restarts the killed node and"
    " answers on the driver's stdin (n/a if it cannot kill nodes); 50 more records follow; every"
    " acknowledged record is consumed exactly once and in order, and all 50 are acknowledged",
    "share_distinct": "share groups (KIP-932): a topic of 1 partition, the group's"
    " share.auto.offset.reset=earliest (IncrementalAlterConfigs on the GROUP resource); three"
    " share consumers of one group poll together while 30 records arrive one at a time"
    " (share-0..29, one batch each, every 100 ms), each accepting what it gets and pausing"
    " 100 ms: every record is delivered exactly once in all, and at least two consumers got some",
    "share_release": "explicit acknowledgement: records a, b, c; a is RELEASEd, b and c"
    " accepted; a comes back (same offset) with delivery count 2 where the client exposes the"
    " count, then nothing more",
    "share_reject": "explicit acknowledgement: records a, b, c; a is REJECTed, b and c"
    " accepted; nothing is delivered again within SHARE_QUIET_S (a was archived)",
    "share_lock_expiry": "the group's share.record.lock.duration.ms=SHARE_LOCK_MS (the broker's"
    " group.share.min.record.lock.duration.ms is lowered to allow it); one consumer takes record x"
    " and holds it unacknowledged; a second consumer of the group gets x (same offset, delivery"
    " count 2) once the first one's acquisition lock has expired",
    "share_restart": "records m0..m5; m0..m2 accepted, m3..m5 released, acknowledgements"
    " committed, the consumer closed; the driver prints an 'await' line and the harness restarts"
    " the broker (n/a if it cannot); a new consumer of the group gets m3..m5 (delivery count 2"
    " or more: 3 when the closing consumer had a fetch in flight that took them again before it"
    " released them on close, on Apache Kafka as on kafkapy) and never m0..m2",
    "streams_group": "Kafka Streams with group.protocol=streams (KIP-1071): the exactly-once word"
    " count (a repartition topic and a changelogged store the broker creates) over STREAMS_LINES;"
    " the output topic, read committed, ends with the count of every word",
}

SCENARIO_NAMES: list[str] = list(SCENARIOS)
#: The share- and streams-group scenarios (only clients with a share consumer or Kafka
#: Streams run them; the others' cells are n/a with the reason).
SHARE_SCENARIO_NAMES: list[str] = [s for s in SCENARIO_NAMES if s.startswith("share_")]
GROUP_SCENARIO_NAMES: list[str] = [*SHARE_SCENARIO_NAMES, "streams_group"]

#: The negative scenarios of a secured run (``matrix --security``, compat_tests/security.py):
#: each expects the error Apache Kafka gives, as the client surfaces it, not just a failure.
SECURITY_SCENARIOS: dict[str, str] = {
    "auth_wrong_password": "SASL with the family's user and a wrong password: the client reports"
    " an authentication failure (SaslAuthenticate answers SASL_AUTHENTICATION_FAILED, 58) and"
    " nothing is served; n/a under mTLS, which has no password",
    "auth_untrusted_certificate": "mTLS with a client certificate of the family's subject issued by"
    " a CA the broker does not trust: the broker refuses the TLS handshake and the client reports"
    " an SSL handshake/authentication failure (Java's SslAuthenticationException); n/a under"
    " SASL_SSL, whose clients present no certificate",
    "acl_topic_write_denied": "the principal may CREATE and DESCRIBE the scenario's topics, not WRITE:"
    " the topic is created (auto-created by kcat), producing one record to it fails with"
    " TOPIC_AUTHORIZATION_FAILED (29)",
    "acl_group_read_denied": "the principal may create, write and read the scenario's topics and"
    " holds no ACL on its groups: the topic is created, one record produced, and a consumer"
    " subscribed in group G gets GROUP_AUTHORIZATION_FAILED (30)",
}
SECURITY_SCENARIO_NAMES: list[str] = list(SECURITY_SCENARIOS)
#: Every scenario a driver knows.
KNOWN_SCENARIO_NAMES: list[str] = SCENARIO_NAMES + SECURITY_SCENARIO_NAMES
CODECS: list[str] = ["none", "gzip", "snappy", "lz4", "zstd"]

CODEC_COUNT = 20
KEYS_COUNT = 30
KEYS_PARTITIONS = 3
HEADERS: list[tuple[str, str]] = [
    ("trace-id", "abc-123"),
    ("dup", "1"),
    ("dup", "2"),
    ("utf8", "h\u00e9llo"),
    ("empty", ""),
]
HEADERS_COUNT = 3
LARGE_SIZE = 1_000_000
GROUP_TOTAL = 10
GROUP_FIRST = 6
IDEMPOTENT_COUNT = 50
TXN_COMMITTED_1 = ["c1-0", "c1-1", "c1-2"]
TXN_ABORTED = ["a-0", "a-1", "a-2"]
TXN_COMMITTED_2 = ["c2-0", "c2-1"]
TXN_COMMITTED_OFFSETS = [0, 1, 2, 8, 9]
ADMIN_PARTITIONS = 3
ADMIN_RETENTION = "123456789"
ADMIN_RETENTION_NEW = "987654321"
SEEK_COUNT = 5
DAY_MS = 86_400_000
FAILOVER_BROKERS = 3
FAILOVER_REPLICATION = 3
FAILOVER_MIN_INSYNC = "2"
FAILOVER_PERIOD_MS = 10
FAILOVER_BEFORE = 20
FAILOVER_AFTER = 50
#: How long a driver keeps producing while it waits for the harness's answer.
FAILOVER_WAIT_S = 120
SHARE_DISTINCT_COUNT = 30
SHARE_CONSUMERS = 3
SHARE_PERIOD_MS = 100
#: The group's acquisition lock in the lock expiry scenario, and the broker minimum the
#: harness sets so that a group may ask for it (Kafka's default minimum is 15 s).
SHARE_LOCK_MS = 2000
SHARE_BROKER_CONFIG = {"group.share.min.record.lock.duration.ms": "1000"}
#: How long a share scenario polls to see that nothing more comes.
SHARE_QUIET_S = 3
SHARE_RESTART_COUNT = 6
SHARE_RESTART_ACCEPTED = 3
STREAMS_LINES = ["the quick brown fox", "jumps over the lazy dog", "the dog barks at the fox"]


def codec_record(i: int) -> tuple[str, str]:
    """Key and value of record i of a codec scenario (compressible on purpose)."""
    return f"key-{i}", f"value-{i}-" + "x" * 200


def keys_record(i: int) -> tuple[str | None, str]:
    """Key and value of record i of the keys scenario."""
    return (None if i % 6 == 5 else f"user-{i % 4}"), f"v{i}"


def failover_value(seq: int) -> str:
    """The value of record ``seq`` of the failover stream."""
    return f"fo-{seq}"


def base_timestamp() -> int:
    """A whole-second CreateTime one day in the past (inside Kafka's default bounds)."""
    return (int(time.time()) - DAY_MS // 1000) * 1000


def timestamps_of(base: int) -> list[int]:
    """The three CreateTimes of the timestamps scenario."""
    return [base, base + 1, base + 1000]


def offsets_for_times_queries(base: int) -> list[tuple[int, int | None]]:
    """(timestamp to look up, expected offset or None for 'no such record')."""
    return [(base - 1, 0), (base + 500, 1), (base + 2000, 2), (base + 2001, None)]


def word_counts(lines: list[str]) -> dict[str, int]:
    """The final count of each word of ``lines`` (the streams_group scenario's expectation)."""
    counts: dict[str, int] = {}
    for line in lines:
        for word in line.lower().split():
            counts[word] = counts.get(word, 0) + 1
    return counts
