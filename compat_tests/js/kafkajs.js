'use strict';
// kafkajs driver. kafkajs ships gzip only; snappy comes from kafkajs-snappy and LZ4/zstd
// from small codecs over lz4-napi (LZ4 frame format, as Kafka uses) and @mongodb-js/zstd.

const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, logLevel } = require('kafkajs');
const lz4 = require('lz4-napi');
const zstd = require('@mongodb-js/zstd');
const fs = require('fs');
const h = require('./harness');
const scenarios = require('./scenarios');

CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: (encoder) => lz4.compressFrame(encoder.buffer),
  decompress: (buffer) => lz4.decompressFrame(buffer),
});
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: (encoder) => zstd.compress(encoder.buffer, 3),
  decompress: (buffer) => zstd.decompress(buffer),
});

const CODEC = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD };
const DYNAMIC_TOPIC_CONFIG = 1;

/** kafkajs's ssl (a tls.connect options object) and sasl settings of a secured run. */
function security(s) {
  if (!s) return {};
  const read = (path) => fs.readFileSync(path, 'utf8');
  const ssl = { ca: [read(s.ca_file)] };
  if (s.cert_file) Object.assign(ssl, { cert: read(s.cert_file), key: read(s.key_file) });
  const out = { ssl };
  if (s.username) out.sasl = { mechanism: s.mechanism.toLowerCase(), username: s.username, password: s.password };
  return out;
}

/** Keeps what kafkajs logs in ``ctx.logged`` (when a scenario asks): its errors' types. */
const keepLog = (ctx) => () => ({ log }) => {
  ctx.logged.push(...[log.message, log.error, log.type, log.error && log.error.type].filter(Boolean).map(String));
};

const kafka = (ctx) => new Kafka({
  clientId: 'kafkapy-compat', brokers: ctx.bootstrap.split(','),
  ...(ctx.logged ? { logLevel: logLevel.DEBUG, logCreator: keepLog(ctx) } : { logLevel: logLevel.NOTHING }),
  connectionTimeout: 5000, requestTimeout: h.TIMEOUT_MS, retry: { retries: 5, initialRetryTime: 100 },
  ...security(ctx.security),
});

const adapter = {
  codecs: Object.keys(CODEC),
  runOptions: { autoCommit: false },
  sequentialSends: true,
  createOptions: { waitForLeaders: true, timeout: h.TIMEOUT_MS },
  async admin(ctx) {
    const admin = kafka(ctx).admin();
    await admin.connect();
    return admin;
  },
  async producer(ctx, { compression = 'none', idempotent = false, transactionalId, failover = false } = {}) {
    const exactlyOnce = idempotent || Boolean(transactionalId);
    // Through a failover, retries that outlast the new leader's election (about 30 s).
    const retry = failover ? { retries: 30, initialRetryTime: 200, maxRetryTime: 1000 } : undefined;
    const p = kafka(ctx).producer({ idempotent: exactlyOnce, transactionalId, maxInFlightRequests: exactlyOnce ? 1 : undefined, retry });
    await p.connect();
    return {
      send: (topic, messages) => p.send({ topic, messages, acks: -1, compression: CODEC[compression] }),
      transaction: () => p.transaction(),
      disconnect: () => p.disconnect(),
    };
  },
  async consumer(ctx, { groupId, readUncommitted = false }) {
    const c = kafka(ctx).consumer({ groupId, readUncommitted, maxBytesPerPartition: 2000000, maxWaitTimeInMs: 200 });
    await c.connect();
    return c;
  },
  subscribe: (consumer, topic, fromBeginning) => consumer.subscribe({ topic, fromBeginning }),
  /** Resolves once the consumer has joined and completed a fetch. */
  fetching: (consumer) => new Promise((resolve) => {
    const remove = consumer.on(consumer.events.FETCH, () => { remove(); resolve(); });
    setTimeout(resolve, h.TIMEOUT_MS);
  }),
  errors: {
    authentication: ['KafkaJSSASLAuthenticationError'],
    untrustedCertificate: ['alert'],
    topicAuthorization: ['TOPIC_AUTHORIZATION_FAILED'],
    groupAuthorization: ['GROUP_AUTHORIZATION_FAILED'],
  },
  /** The error a consumer's group crashed with (kafkajs emits it as a CRASH event). */
  groupError: (consumer) => new Promise((resolve) => {
    consumer.on(consumer.events.CRASH, ({ payload }) => resolve(payload.error));
  }),
  configs: {
    how: 'alter (legacy AlterConfigs)',
    async describe(admin, topic) {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }],
      });
      const entry = resources[0].configEntries.find((e) => e.configName === 'retention.ms');
      return [entry.configValue, entry.configSource === undefined ? DYNAMIC_TOPIC_CONFIG : entry.configSource];
    },
    alter: (admin, topic, value) => admin.alterConfigs({
      validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value }] }],
    }),
  },
};

h.main('kafkajs', `kafkajs ${require('kafkajs/package.json').version}`, scenarios(adapter));
