'use strict';
// The scenarios, written once against the KafkaJS-shaped API that both kafkajs and
// @confluentinc/kafka-javascript (its KafkaJS compatibility layer) offer. An adapter
// supplies what differs: configuration shapes, codecs, admin coverage.

const crypto = require('crypto');
const h = require('./harness');

module.exports = function scenarios(a) {
  async function createTopic(ctx, numPartitions = 1, configEntries = []) {
    const topic = ctx.name('t');
    const admin = await a.admin(ctx);
    try {
      await admin.createTopics({
        topics: [{ topic, numPartitions, replicationFactor: ctx.replicationFactor, configEntries }], ...a.createOptions,
      });
    } finally {
      await admin.disconnect();
    }
    return topic;
  }

  async function produce(ctx, topic, messages, opts = {}) {
    const producer = await a.producer(ctx, opts);
    try {
      await producer.send(topic, messages);
    } finally {
      await producer.disconnect();
    }
  }

  /** Runs the consumer until count messages (or the one holding stop) arrived. */
  async function collect(consumer, count, stop) {
    const out = [];
    let done;
    const finished = new Promise((resolve) => { done = resolve; });
    await consumer.run({
      ...a.runOptions,
      eachMessage: async ({ partition, message }) => {
        if (out.length < count) out.push(h.normalise(partition, message));
        if (out.length >= count || (stop && message.value && message.value.toString() === stop)) done();
      },
    });
    await Promise.race([finished, h.sleep(h.TIMEOUT_MS)]);
    return out;
  }

  async function consume(ctx, topic, count, opts = {}) {
    const consumer = await a.consumer(ctx, { groupId: ctx.name('g'), fromBeginning: true, ...opts });
    try {
      await a.subscribe(consumer, topic, true);
      const out = await collect(consumer, count, opts.stop);
      if (!opts.stop) h.eq(out.length, count, 'records consumed');
      return out;
    } finally {
      await consumer.disconnect();
    }
  }

  const value = (v) => ({ value: v });

  function codec(name) {
    return async (ctx) => {
      if (!a.codecs.includes(name)) throw new h.NotApplicable(`no ${name} codec`);
      const topic = await createTopic(ctx);
      const messages = Array.from({ length: 20 }, (_, i) => { const [key, v] = h.codecRecord(i); return { key, value: v }; });
      await produce(ctx, topic, messages, { compression: name });
      return h.checks.codec(await consume(ctx, topic, 20));
    };
  }

  async function keys(ctx) {
    const topic = await createTopic(ctx, 3);
    const messages = Array.from({ length: 30 }, (_, i) => { const [key, v] = h.keysRecord(i); return { key, value: v }; });
    await produce(ctx, topic, messages);
    return h.checks.keys(await consume(ctx, topic, 30), 3);
  }

  async function headers(ctx) {
    const topic = await createTopic(ctx);
    // KafkaJS-style headers are an object; a repeated name is an array value.
    const hdrs = {};
    for (const [k, v] of h.HEADERS) hdrs[k] = k in hdrs ? [].concat(hdrs[k], v) : v;
    await produce(ctx, topic, [0, 1, 2].map((i) => ({ value: `h${i}`, headers: hdrs })));
    return h.checks.headers(await consume(ctx, topic, 3));
  }

  async function timestamps(ctx) {
    const topic = await createTopic(ctx);
    const base = h.baseTimestamp();
    await produce(ctx, topic, [base, base + 1, base + 1000].map((ts, i) => ({ value: `t${i}`, timestamp: String(ts) })));
    return h.checks.timestamps(await consume(ctx, topic, 3), base);
  }

  async function largeMessage(ctx) {
    const topic = await createTopic(ctx);
    const payload = crypto.randomBytes(1000000);
    await produce(ctx, topic, [{ value: payload }], { large: true });
    const [got] = await consume(ctx, topic, 1, { large: true });
    return h.checks.large(got && got.value, payload);
  }

  async function groupCommitResume(ctx) {
    const topic = await createTopic(ctx);
    const groupId = ctx.name('g');
    await produce(ctx, topic, Array.from({ length: 10 }, (_, i) => value(`g${i}`)));
    const first = await a.consumer(ctx, { groupId, fromBeginning: true });
    let firsts;
    try {
      await a.subscribe(first, topic, true);
      firsts = await collect(first, 6);
      await first.commitOffsets([{ topic, partition: 0, offset: '6' }]);
    } finally {
      await first.disconnect();
    }
    const admin = await a.admin(ctx);
    let committed;
    try {
      const [fetched] = await admin.fetchOffsets({ groupId, topics: [topic] });
      committed = Number(fetched.partitions.find((p) => p.partition === 0).offset);
    } finally {
      await admin.disconnect();
    }
    const second = await a.consumer(ctx, { groupId, fromBeginning: true });
    let seconds;
    try {
      await a.subscribe(second, topic, true);
      seconds = await collect(second, 4);
    } finally {
      await second.disconnect();
    }
    return h.checks.group(firsts.map((r) => r.offset), committed, seconds.map((r) => r.offset));
  }

  async function idempotentProducer(ctx) {
    const topic = await createTopic(ctx);
    await produce(ctx, topic, Array.from({ length: 50 }, (_, i) => value(`idem-${i}`)), { idempotent: true });
    return h.checks.idempotent(await consume(ctx, topic, 50));
  }

  async function transactions(ctx) {
    const topic = await createTopic(ctx);
    const producer = await a.producer(ctx, { transactionalId: ctx.name('txn') });
    try {
      for (const [values, commit] of [[h.TXN_COMMITTED_1, true], [h.TXN_ABORTED, false], [h.TXN_COMMITTED_2, true]]) {
        const txn = await producer.transaction();
        await txn.send({ topic, messages: values.map(value) });
        if (commit) await txn.commit(); else await txn.abort();
      }
    } finally {
      await producer.disconnect();
    }
    const committed = await consume(ctx, topic, 8, { readUncommitted: false, stop: 'c2-1' });
    const uncommitted = await consume(ctx, topic, 8, { readUncommitted: true, stop: 'c2-1' });
    return h.checks.transactions(committed, uncommitted);
  }

  async function admin(ctx) {
    const topic = await createTopic(ctx, 3, [{ name: 'retention.ms', value: '123456789' }]);
    const client = await a.admin(ctx);
    try {
      await h.eventually(async () => {
        const meta = await client.fetchTopicMetadata({ topics: [topic] });
        const topics = Array.isArray(meta) ? meta : meta.topics;
        h.eq(topics[0].partitions.length, 3, 'partitions');
      });
      if (a.configs) {
        await h.eventually(async () => h.eq(await a.configs.describe(client, topic), ['123456789', 1], '[retention.ms, source]'));
        await a.configs.alter(client, topic, '987654321');
        await h.eventually(async () => h.eq((await a.configs.describe(client, topic))[0], '987654321', 'retention.ms after alter'));
      }
      await client.deleteTopics({ topics: [topic], timeout: h.TIMEOUT_MS });
      const deadline = Date.now() + h.TIMEOUT_MS;
      while ((await client.listTopics()).includes(topic)) {
        h.expect(Date.now() < deadline, 'deleted topic still listed');
        await h.sleep(200);
      }
    } finally {
      await client.disconnect();
    }
    if (!a.configs) throw new h.NotApplicable(`${a.noConfigs}; create, describe and delete topic passed`);
    return `create, describe, describe configs, ${a.configs.how}, delete`;
  }

  async function offsetsForTimes(ctx) {
    const topic = await createTopic(ctx);
    const base = h.baseTimestamp();
    await produce(ctx, topic, [0, 1, 2].map((i) => ({ value: `o${i}`, timestamp: String(base + 1000 * i) })));
    const client = await a.admin(ctx);
    const found = [];
    try {
      for (const ts of [base - 1, base + 500, base + 2000, base + 2001]) {
        const [p0] = await client.fetchTopicOffsetsByTimestamp(topic, ts);
        found.push(Number(p0.offset));
      }
    } finally {
      await client.disconnect();
    }
    // The KafkaJS API answers "no record at or after" with the high watermark (3).
    h.eq(found, [0, 1, 2, 3], 'offsets for [t-1, t+500, t+2000, t+2001]');
    return '4 lookups (none = high watermark 3)';
  }

  async function seek(ctx) {
    const topic = await createTopic(ctx);
    await produce(ctx, topic, Array.from({ length: 5 }, (_, i) => value(`s${i}`)));
    const consumer = await a.consumer(ctx, { groupId: ctx.name('g'), fromBeginning: false });
    try {
      await a.subscribe(consumer, topic, false);
      const seen = [];
      let wake = () => {};
      await consumer.run({
        ...a.runOptions,
        eachMessage: async ({ partition, message }) => {
          seen.push(h.normalise(partition, message));
          wake();
        },
      });
      // Reads after a seek until pred holds; the first record read is the seek's answer.
      const readUntil = async (pred) => {
        const deadline = Date.now() + h.TIMEOUT_MS;
        while (!pred() && Date.now() < deadline) await new Promise((r) => { wake = r; setTimeout(r, 200); });
        h.expect(seen.length, 'nothing read after a seek');
        return seen[0];
      };
      const throughLast = () => seen.some((r) => r.offset === 5);
      // The KafkaJS API has no portable logical seek (kafkajs only reaches one through
      // auto-commit): seek to the end and start offsets its admin lists.
      const logical = async (which) => {
        const client = await a.admin(ctx);
        try {
          const [p0] = await client.fetchTopicOffsets(topic);
          return which === 'end' ? p0.high : p0.low;
        } finally {
          await client.disconnect();
        }
      };
      await a.fetching(consumer);
      consumer.seek({ topic, partition: 0, offset: await logical('end') });
      await h.sleep(500);
      await produce(ctx, topic, [value('after-end')]);
      const after = await readUntil(() => seen.length > 0);
      seen.length = 0;
      consumer.seek({ topic, partition: 0, offset: await logical('beginning') });
      const beginning = await readUntil(throughLast);
      seen.length = 0;
      consumer.seek({ topic, partition: 0, offset: '3' });
      const absolute = await readUntil(throughLast);
      return h.checks.seek(after, beginning, absolute) + ' (end/beginning from fetchTopicOffsets)';
    } finally {
      await consumer.disconnect();
    }
  }

  async function failover(ctx) {
    const topic = ctx.name('t');
    const admin = await a.admin(ctx);
    try {
      // An admin without DescribeCluster (confluent-js) learns the broker count from
      // CreateTopics refusing replication factor 3 (INVALID_REPLICATION_FACTOR).
      if (admin.describeCluster) h.requireBrokers((await admin.describeCluster()).brokers.length);
      const configEntries = [{ name: 'min.insync.replicas', value: h.FAILOVER.minInsync }];
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1, replicationFactor: h.FAILOVER.replication, configEntries }], ...a.createOptions,
      }).catch((err) => {
        const refused = [err, ...((err && err.errors) || [])].find((e) => e && e.type === 'ERR_INVALID_REPLICATION_FACTOR');
        if (refused) {
          throw new h.NotApplicable(`needs ${h.FAILOVER.brokers} brokers for replication factor ${h.FAILOVER.replication}: ${refused.message}`);
        }
        throw err;
      });
    } finally {
      await admin.disconnect();
    }
    const stream = new h.Stream(ctx, topic);
    const producer = await a.producer(ctx, { idempotent: true, failover: true });
    // The KafkaJS API consumes through a group: a consumer that rejoins without a
    // commit starts over from the beginning, which the check allows (offsets read again).
    const consumer = await a.consumer(ctx, { groupId: ctx.name('g'), fromBeginning: true });
    try {
      await a.subscribe(consumer, topic, true);
      await consumer.run({
        ...a.runOptions,
        eachMessage: async ({ message }) => stream.read(message.offset, message.value),
      });
      // kafkajs retries each send() on its own, with the sequence numbers current at
      // the retry: concurrent sends may land out of order across a leader change, so
      // its sends are chained (sequentialSends); librdkafka queues them in order.
      const sends = [];
      let chain = Promise.resolve();
      await stream.run((value) => {
        const send = () => producer.send(topic, [{ value, partition: 0 }]).then(
          ([md]) => stream.delivered(value, md.baseOffset !== undefined ? md.baseOffset : md.offset),
          (err) => stream.failed(err),
        );
        chain = a.sequentialSends ? chain.then(send) : send();
        sends.push(chain);
      });
      await Promise.race([Promise.all(sends), h.sleep(60000)]);
      await stream.drain();
    } finally {
      await producer.disconnect();
      await consumer.disconnect();
    }
    return stream.check();
  }

  // The negative scenarios of a secured run (compat_tests/scenarios.py SECURITY_SCENARIOS).
  /** Connects an admin client with ``bad`` settings: the error must name one of ``kinds``. */
  async function refused(bad, kinds) {
    try {
      const admin = await a.admin(bad);
      try {
        await admin.listTopics();
      } finally {
        await admin.disconnect();
      }
    } catch (err) {
      return `${err.name}: ${h.expectKind(err, kinds, bad.logged)}`;
    }
    throw new h.Failed('connected with refused credentials');
  }

  const authWrongPassword = (ctx) => refused({ ...h.withWrongPassword(ctx), logged: [] }, a.errors.authentication);
  const authUntrustedCertificate = (ctx) => refused({ ...h.withUntrustedCertificate(ctx), logged: [] },
    a.errors.untrustedCertificate);

  async function aclTopicWriteDenied(ctx) {
    const topic = await createTopic(ctx);
    try {
      await produce(ctx, topic, [value('denied')]);
    } catch (err) {
      return h.expectKind(err, a.errors.topicAuthorization);
    }
    throw new h.Failed('produced to a topic without WRITE');
  }

  async function aclGroupReadDenied(ctx0) {
    // kafkajs reports the FindCoordinator error only in its log; librdkafka logs it too.
    const ctx = { ...ctx0, logged: [] };
    const topic = await createTopic(ctx);
    await produce(ctx, topic, [value('one')]);
    const consumer = await a.consumer(ctx, { groupId: ctx.name('g'), fromBeginning: true });
    try {
      const failed = a.groupError(consumer);
      await a.subscribe(consumer, topic, true);
      let consumed = 0;
      const run = consumer.run({ ...a.runOptions, eachMessage: async () => { consumed += 1; } });
      const err = await Promise.race([failed, run.then(() => failed), h.sleep(h.TIMEOUT_MS).then(() => null)])
        .catch((e) => e);
      h.expect(consumed === 0, 'consumed in a group without READ');
      h.expect(err || ctx.logged.length, `no error in ${h.TIMEOUT_MS} ms`);
      return `${err ? err.name : 'logged'}: ${h.expectKind(err, a.errors.groupAuthorization, ctx.logged)}`;
    } finally {
      await consumer.disconnect().catch(() => {});
    }
  }

  const all = {
    auth_wrong_password: authWrongPassword, auth_untrusted_certificate: authUntrustedCertificate,
    acl_topic_write_denied: aclTopicWriteDenied,
    acl_group_read_denied: aclGroupReadDenied,
    failover, keys, headers, timestamps, large_message: largeMessage, group_commit_resume: groupCommitResume,
    idempotent_producer: idempotentProducer, transactions, admin, offsets_for_times: offsetsForTimes, seek,
  };
  for (const c of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) all[`codec_${c}`] = codec(c);
  return all;
};
