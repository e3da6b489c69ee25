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
  'idempotent_producer', 'transactions', 'admin', 'offsets_for_times', 'seek',
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
  const names = wanted === 'all' ? NAMES : wanted.split(',');
  emit({ version });
  for (const name of names) {
    const impl = scenarios[name];
    if (typeof impl !== 'function') {
      emit({ scenario: name, status: 'n/a', detail: impl || 'not implemented for this client' });
      continue;
    }
    const started = Date.now();
    const ctx = { bootstrap, scenario: name, name: (kind) => uniqueName(client, name, kind) };
    let timer;
    try {
      const detail = await Promise.race([
        impl(ctx),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Failed('scenario timed out')), 4 * TIMEOUT_MS); }),
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
  TIMEOUT_MS, HEADERS, TXN_COMMITTED_1, TXN_ABORTED, TXN_COMMITTED_2,
  Failed, NotApplicable, expect, eq, codecRecord, keysRecord, baseTimestamp, sleep, normalise, checks, main,
};
