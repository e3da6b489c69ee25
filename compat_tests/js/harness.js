'use strict';
// Shared by the Node.js drivers: command line, JSON-line protocol, scenario data
// and checks. The scenarios are specified in compat_tests/scenarios.py; the data
// here mirrors it.

const crypto = require('crypto');
const util = require('util');

const TIMEOUT_MS = 15000;
const NAMES = [
  'codec_none', 'codec_gzip', 'codec_snappy', 'codec_lz4', 'codec_zstd',
  'keys', 'headers', 'timestamps', 'large_message', 'group_commit_resume',
  'idempotent_producer', 'transactions', 'admin', 'offsets_for_times', 'seek', 'failover',
];
const HEADERS = [['trace-id', 'abc-123'], ['dup', '1'], ['dup', '2'], ['utf8', 'h\u00e9llo'], ['empty', '']];
const TXN_COMMITTED_1 = ['c1-0', 'c1-1', 'c1-2'];
const TXN_ABORTED = ['a-0', 'a-1', 'a-2'];
const TXN_COMMITTED_2 = ['c2-0', 'c2-1'];

class Failed extends Error {}
Failed.prototype.name = 'Failed';

/** A scenario outcome that is not a failure: the client cannot express it. */
class NotApplicable extends Error {}
NotApplicable.prototype.name = 'NotApplicable';

function expect(cond, message) {
  if (!cond) throw new Failed(message);
}

function show(v) {
  const s = util.inspect(v, { depth: 4, breakLength: Infinity, maxArrayLength: 60 });
  return s.length > 300 ? s.slice(0, 300) + '...' : s;
}

function eq(actual, expected, what) {
  if (!util.isDeepStrictEqual(actual, expected)) {
    throw new Failed(`${what}: got ${show(actual)}, expected ${show(expected)}`);
  }
}

const codecRecord = (i) => [`key-${i}`, `value-${i}-` + 'x'.repeat(200)];
const keysRecord = (i) => [i % 6 === 5 ? null : `user-${i % 4}`, `v${i}`];
const baseTimestamp = () => (Math.floor(Date.now() / 1000) - 86400) * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function uniqueName(client, scenario, kind) {
  return `compat-${client}-${scenario}-${kind}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Normalises a consumed KafkaJS-style message: headers become an ordered [name, value] list. */
function normalise(partition, message) {
  const headers = [];
  for (const [name, value] of Object.entries(message.headers || {})) {
    for (const v of Array.isArray(value) ? value : [value]) headers.push([name, v == null ? '' : v.toString()]);
  }
  return {
    partition,
    offset: Number(message.offset),
    key: message.key == null ? null : message.key.toString(),
    value: message.value,
    headers,
    timestamp: Number(message.timestamp),
  };
}

const checks = {
  codec(recs) {
    eq(recs.map((r) => [r.offset, r.key, r.value.toString()]),
      Array.from({ length: 20 }, (_, i) => [i, ...codecRecord(i)]), 'consumed [offset, key, value]');
    return '20 records';
  },
  keys(recs, partitions) {
    const fmt = ([k, v]) => `${k === null ? '<null>' : k}=${v}`;
    const produced = Array.from({ length: 30 }, (_, i) => keysRecord(i));
    eq(recs.map((r) => fmt([r.key, r.value.toString()])).sort(), produced.map(fmt).sort(), 'consumed key=value multiset');
    const byKey = new Map();
    for (const r of [...recs].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
      if (r.key === null) continue;
      if (!byKey.has(r.key)) byKey.set(r.key, { partitions: new Set(), values: [] });
      byKey.get(r.key).partitions.add(r.partition);
      byKey.get(r.key).values.push(r.value.toString());
    }
    for (const [key, { partitions: ps, values }] of byKey) {
      eq(ps.size, 1, `partitions of key ${key}`);
      eq(values, produced.filter(([k]) => k === key).map(([, v]) => v), `order of key ${key}`);
    }
    return `30 records over ${new Set(recs.map((r) => r.partition)).size} of ${partitions} partitions`;
  },
  headers(recs) {
    eq(recs.length, 3, 'records consumed');
    for (const r of recs) eq(r.headers, HEADERS, `headers at offset ${r.offset}`);
    return '5 headers x 3 records (read back as an object keyed by name)';
  },
  timestamps(recs, base) {
    eq(recs.map((r) => [r.offset, r.timestamp]), [[0, base], [1, base + 1], [2, base + 1000]], '[offset, timestamp]');
    return 'CreateTime values round trip (the client does not expose the timestamp type)';
  },
  large(value, payload) {
    expect(value, 'no value consumed');
    eq(value.length, payload.length, 'value length');
    expect(Buffer.compare(value, payload) === 0, 'value bytes differ');
    return `${value.length} bytes`;
  },
  group(first, committed, second) {
    eq(first, [0, 1, 2, 3, 4, 5], 'first consumer offsets');
    eq(committed, 6, 'committed offset');
    eq(second, [6, 7, 8, 9], 'second consumer offsets');
    return 'resumed at 6, committed 6';
  },
  idempotent(recs) {
    eq(recs.map((r) => [r.offset, r.value.toString()]), Array.from({ length: 50 }, (_, i) => [i, `idem-${i}`]), '[offset, value]');
    return '50 records exactly once';
  },
  transactions(committed, uncommitted) {
    eq(committed.map((r) => [r.offset, r.value.toString()]),
      [[0, 'c1-0'], [1, 'c1-1'], [2, 'c1-2'], [8, 'c2-0'], [9, 'c2-1']], 'read_committed');
    eq(uncommitted.map((r) => r.value.toString()), [...TXN_COMMITTED_1, ...TXN_ABORTED, ...TXN_COMMITTED_2], 'read_uncommitted values');
    return 'abort hidden from read_committed, visible to read_uncommitted';
  },
  seek(after, beginning, absolute) {
    eq([after.offset, after.value.toString()], [5, 'after-end'], 'record read after seek to end');
    eq(beginning.offset, 0, 'offset read after seek to beginning');
    eq(absolute.offset, 3, 'offset read after seek to 3');
    return 'end, beginning, absolute';
  },
};

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// The failover scenario (compat_tests/scenarios.py): its data, the fault request to
// the harness and the stream's bookkeeping, as compat_tests/failover.py keeps them.
const FAILOVER = { brokers: 3, replication: 3, minInsync: '2', periodMs: 10, before: 20, after: 50, waitMs: 120000 };

function requireBrokers(count) {
  if (count < FAILOVER.brokers) {
    throw new NotApplicable(`needs ${FAILOVER.brokers} brokers for replication factor ${FAILOVER.replication}; the cluster has ${count}`);
  }
}

/** Prints the 'await' line for a fault and resolves with the harness's one-line answer on stdin. */
function requestFault(ctx, topic, partition = 0) {
  emit({ await: 'fault', scenario: ctx.scenario, topic, partition });
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (chunk) => {
      buffered += chunk.toString();
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.pause();
      try {
        resolve(JSON.parse(buffered.slice(0, end)));
      } catch (err) {
        resolve({ fault: 'none', reason: `unreadable answer from the harness: ${buffered.slice(0, 100)}` });
      }
    };
    const onEnd = () => resolve({ fault: 'none', reason: 'the harness closed stdin' });
    process.stdin.on('data', onData);
    process.stdin.on('end', onEnd);
    process.stdin.resume();
  });
}

/**
 * Runs look until it resolves, for at most TIMEOUT_MS, then once more letting its error end the
 * scenario: a broker of a cluster learns a metadata change (a new topic, an altered config) a
 * moment after the controller acknowledged it, and admin clients may ask any broker.
 */
async function eventually(look) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      return await look();
    } catch (err) {
      await sleep(100);
    }
  }
  return look();
}

const seqOf = (value) => Number(value.toString().slice('fo-'.length));

/** Paces the failover stream and keeps what was acknowledged and read. */
class Stream {
  constructor(ctx, topic) {
    Object.assign(this, { ctx, topic, acked: new Map(), failures: [], consumed: [], seen: new Set(), sent: 0, afterFrom: -1, fault: '' });
  }

  delivered(value, offset) { this.acked.set(seqOf(value), offset == null ? -1 : Number(offset)); }

  failed(err) { this.failures.push(String(err && err.message ? err.message : err)); }

  read(offset, value) {
    this.consumed.push([Number(offset), seqOf(value)]);
    this.seen.add(seqOf(value));
  }

  /** Calls send(value) once every period until `after` records went out after the harness answered. */
  async run(send) {
    const started = Date.now();
    let request = null;
    let answer = null;
    let nextAt = started;
    while (this.afterFrom < 0 || this.sent < this.afterFrom + FAILOVER.after) {
      if (this.afterFrom < 0) {
        if (request === null) {
          expect(Date.now() - started < TIMEOUT_MS, `only ${this.acked.size} records acknowledged before the fault; errors: ${this.failures.slice(0, 3)}`);
          if (this.acked.size >= FAILOVER.before) request = requestFault(this.ctx, this.topic).then((a) => { answer = a; });
        } else if (answer !== null) {
          if (answer.fault !== 'done') throw new NotApplicable(String(answer.reason));
          this.fault = answer.detail || '';
          this.afterFrom = this.sent;
        } else {
          expect(Date.now() - started < FAILOVER.waitMs, 'the harness did not answer the fault request');
        }
      }
      if (Date.now() >= nextAt) {
        send(`fo-${this.sent}`);
        this.sent += 1;
        nextAt += FAILOVER.periodMs;
      }
      await sleep(Math.max(0, Math.min(5, nextAt - Date.now())));
    }
  }

  /** Waits until the last acknowledged record was read (at most TIMEOUT_MS). */
  async drain() {
    const deadline = Date.now() + TIMEOUT_MS;
    const last = Math.max(-1, ...this.acked.keys());
    while (!this.seen.has(last) && Date.now() < deadline) await sleep(100);
  }

  /** compat_tests/checks.py's failover checks, on the log as the consumer read it. */
  check() {
    const byOffset = new Map();
    const conflicts = [];
    for (const [offset, seq] of this.consumed) {
      if (!byOffset.has(offset)) byOffset.set(offset, seq);
      else if (byOffset.get(offset) !== seq) conflicts.push(`${offset}: fo-${byOffset.get(offset)} then fo-${seq}`);
    }
    expect(conflicts.length === 0, `different records read at the same offset: ${conflicts.slice(0, 5)}`);
    const log = [...byOffset.entries()].sort((a, b) => a[0] - b[0]);
    const at = new Map();
    const duplicated = [];
    const reordered = [];
    let previous = -1;
    for (const [offset, seq] of log) {
      if (at.has(seq)) duplicated.push(seq);
      at.set(seq, offset);
      if (seq < previous) reordered.push(`${previous} then ${seq}`);
      previous = seq;
    }
    expect(duplicated.length === 0, `records in the log more than once: ${duplicated.slice(0, 10)}`);
    expect(reordered.length === 0, `records out of order in the log: ${reordered.slice(0, 5)}`);
    const lost = [];
    const moved = [];
    for (const [seq, offset] of [...this.acked.entries()].sort((a, b) => a[0] - b[0])) {
      if (!at.has(seq)) lost.push(seq);
      else if (offset >= 0 && at.get(seq) !== offset) moved.push(`${seq} acked at ${offset}, consumed at ${at.get(seq)}`);
    }
    expect(lost.length === 0, `${lost.length} of ${this.acked.size} acknowledged records never consumed: ${lost.slice(0, 10)}`);
    expect(moved.length === 0, `acknowledged at one offset, consumed at another: ${moved.slice(0, 5)}`);
    let late = 0;
    for (let seq = this.afterFrom; seq < this.sent; seq += 1) if (!this.acked.has(seq)) late += 1;
    expect(late === 0, `${late} of the ${this.sent - this.afterFrom} records sent after the fault not acknowledged; errors: ${this.failures.slice(0, 3)}`);
    const unacked = this.sent - this.acked.size;
    const reread = this.consumed.length - byOffset.size;
    return `${this.acked.size} acknowledged records (${this.sent - this.afterFrom} after the fault`
      + `${unacked ? `, ${unacked} unacknowledged during it` : ''}) consumed exactly once, in order`
      + `${reread ? ` (${reread} reads of an offset read before)` : ''}; ${this.fault}`;
  }
}

/** ``ctx`` with the security settings' wrong password (the auth_wrong_password scenario). */
function withWrongPassword(ctx) {
  if (!ctx.security || !ctx.security.wrong_password) {
    throw new NotApplicable(`no SASL password to get wrong (${ctx.security ? ctx.security.security_protocol : 'PLAINTEXT'})`);
  }
  return { ...ctx, security: { ...ctx.security, password: ctx.security.wrong_password } };
}

/** ``ctx`` presenting its subject from a CA the broker does not trust (auth_untrusted_certificate). */
function withUntrustedCertificate(ctx) {
  const s = ctx.security;
  if (!s || !s.untrusted_cert_file) {
    throw new NotApplicable(`no client certificate (${s ? s.security_protocol : 'PLAINTEXT'})`);
  }
  return { ...ctx, security: { ...s, cert_file: s.untrusted_cert_file, key_file: s.untrusted_key_file } };
}

/** The names an error carries (name, KafkaJS type, librdkafka code, message), its causes' too. */
function errorKinds(err) {
  const out = [];
  for (let e = err, depth = 0; e && depth < 5; e = e.cause || e.originalError, depth++) {
    out.push(...[e.name, e.type, e.code, e.message].filter((x) => x !== undefined).map(String));
  }
  return out;
}

/** Fails unless ``err`` (or a cause, or a line the client logged meanwhile: ``logged``)
 * names one of ``kinds``; returns the one that matched. */
function expectKind(err, kinds, logged = []) {
  const found = [...errorKinds(err), ...logged];
  const hit = kinds.find((k) => found.some((f) => f.includes(k)));
  if (!hit) throw new Failed(`expected ${kinds.join(' or ')}, got ${found.join(' | ').slice(0, 300)}`);
  const where = found.find((f) => f.includes(hit));
  return where === hit ? hit : `${hit} in "${where.slice(0, 200)}"`;
}

/** Parses --bootstrap/--scenarios, runs each scenario and prints one JSON line each. */
async function main(client, version, scenarios) {
  const args = process.argv.slice(2);
  const arg = (name, dflt) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : dflt);
  const bootstrap = arg('--bootstrap');
  if (!bootstrap) {
    process.stderr.write('usage: --bootstrap HOST:PORT [--scenarios a,b|all]\n');
    process.exit(2);
  }
  const wanted = arg('--scenarios', 'all');
  const replicationFactor = Number(arg('--replication-factor', '1'));
  // A secured run's client settings (compat_tests/driver.py lists the keys), or null.
  const securityFile = arg('--security');
  const security = securityFile ? JSON.parse(require('fs').readFileSync(securityFile, 'utf8')) : null;
  const names = wanted === 'all' ? NAMES : wanted.split(',');
  emit({ version });
  for (const name of names) {
    const impl = scenarios[name];
    if (typeof impl !== 'function') {
      emit({ scenario: name, status: 'n/a', detail: impl || 'not implemented for this client' });
      continue;
    }
    const started = Date.now();
    const ctx = { bootstrap, scenario: name, replicationFactor, security, name: (kind) => uniqueName(client, name, kind) };
    let timer;
    try {
      const detail = await Promise.race([
        impl(ctx),
        new Promise((_, reject) => {
          const limit = name === 'failover' ? FAILOVER.waitMs + 4 * TIMEOUT_MS : 4 * TIMEOUT_MS;
          timer = setTimeout(() => reject(new Failed('scenario timed out')), limit);
        }),
      ]);
      emit({ scenario: name, status: 'pass', detail: `${detail} (${((Date.now() - started) / 1000).toFixed(1)}s)` });
    } catch (err) {
      if (err instanceof NotApplicable) {
        emit({ scenario: name, status: 'n/a', detail: err.message });
      } else {
        if (!(err instanceof Failed)) process.stderr.write(`${name}: ${err && err.stack}\n`);
        const detail = err instanceof Failed ? err.message : `${err && err.name}: ${err && err.message}`;
        emit({ scenario: name, status: 'fail', detail: detail.slice(0, 500) });
      }
    } finally {
      clearTimeout(timer);
    }
  }
  process.exit(0);
}

module.exports = {
  TIMEOUT_MS, HEADERS, TXN_COMMITTED_1, TXN_ABORTED, TXN_COMMITTED_2, FAILOVER,
  Failed, NotApplicable, expect, eq, codecRecord, keysRecord, baseTimestamp, sleep, normalise, checks, main,
  requireBrokers, Stream, eventually, withWrongPassword, withUntrustedCertificate, expectKind,
};
