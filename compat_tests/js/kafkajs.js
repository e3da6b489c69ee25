'use strict';
// kafkajs driver. kafkajs ships gzip only; snappy comes from kafkajs-snappy and LZ4/zstd
// from small codecs over lz4-napi (LZ4 frame format, as Kafka uses) and @mongodb-js/zstd.

const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, logLevel } = require('kafkajs');
const lz4 = require('lz4-napi');
const zstd = require('@mongodb-js/zstd');
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

const kafka = (ctx) => new Kafka({
  clientId: 'kafkapy-compat', brokers: ctx.bootstrap.split(','), logLevel: logLevel.NOTHING,
  connectionTimeout: 5000, requestTimeout: h.TIMEOUT_MS, retry: { retries: 5, initialRetryTime: 100 },
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
