'use strict';
// @confluentinc/kafka-javascript driver, through its KafkaJS-compatible API (librdkafka inside).

const { Kafka, CompressionTypes, logLevel } = require('@confluentinc/kafka-javascript').KafkaJS;
const h = require('./harness');
const scenarios = require('./scenarios');

const CODEC = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.SNAPPY,
  lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD };

const kafka = (ctx) => new Kafka({ kafkaJS: { brokers: ctx.bootstrap.split(','), logLevel: logLevel.NOTHING } });

const adapter = {
  codecs: Object.keys(CODEC),
  runOptions: {},
  createOptions: { timeout: h.TIMEOUT_MS },
  async admin(ctx) {
    const admin = kafka(ctx).admin();
    await admin.connect();
    return admin;
  },
  async producer(ctx, { compression = 'none', idempotent = false, transactionalId, large = false } = {}) {
    const conf = { 'linger.ms': 5, kafkaJS: { acks: -1, compression: CODEC[compression] } };
    if (idempotent) conf.kafkaJS.idempotent = true;
    if (transactionalId) conf.kafkaJS.transactionalId = transactionalId;
    if (large) conf['message.max.bytes'] = 2000000;
    const p = kafka(ctx).producer(conf);
    await p.connect();
    return {
      send: (topic, messages) => p.send({ topic, messages }),
      transaction: () => p.transaction(),
      disconnect: () => p.disconnect(),
    };
  },
  async consumer(ctx, { groupId, readUncommitted = false, fromBeginning = true }) {
    const c = kafka(ctx).consumer({
      kafkaJS: { groupId, readUncommitted, fromBeginning, autoCommit: false, maxWaitTimeInMs: 200 },
    });
    await c.connect();
    return c;
  },
  subscribe: (consumer, topic) => consumer.subscribe({ topics: [topic] }),
  /** Resolves once the consumer has an assignment and had time to start fetching. */
  async fetching(consumer) {
    const deadline = Date.now() + h.TIMEOUT_MS;
    while (consumer.assignment().length === 0 && Date.now() < deadline) await h.sleep(50);
    await h.sleep(300);
  },
  configs: null,
  noConfigs: 'its admin API has no describe/alter configs',
};

const { version } = require('@confluentinc/kafka-javascript/package.json');
const librdkafka = require('@confluentinc/kafka-javascript').librdkafkaVersion;
h.main('confluent-kafka-javascript', `@confluentinc/kafka-javascript ${version} (librdkafka ${librdkafka})`, scenarios(adapter));
