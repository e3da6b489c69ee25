'use strict';
// @confluentinc/kafka-javascript driver, through its KafkaJS-compatible API (librdkafka inside).

const { Kafka, CompressionTypes, logLevel } = require('@confluentinc/kafka-javascript').KafkaJS;
const h = require('./harness');
const scenarios = require('./scenarios');

const CODEC = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.SNAPPY,
  lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD };

/** A secured run's settings, as librdkafka names them. */
function security(s) {
  if (!s) return {};
  const out = { 'security.protocol': s.security_protocol.toLowerCase(), 'ssl.ca.location': s.ca_file };
  if (s.cert_file) Object.assign(out, { 'ssl.certificate.location': s.cert_file, 'ssl.key.location': s.key_file });
  if (s.username) Object.assign(out, { 'sasl.mechanisms': s.mechanism, 'sasl.username': s.username, 'sasl.password': s.password });
  return out;
}

/** A KafkaJS-layer logger keeping every line in ``ctx.logged`` (when a scenario asks). */
function keepLog(ctx) {
  const keep = (message, extra) => { ctx.logged.push(String(message), JSON.stringify(extra || {})); };
  return { info: keep, error: keep, warn: keep, debug: keep, namespace() { return this; }, setLogLevel() {} };
}

const kafka = (ctx) => new Kafka({
  kafkaJS: { brokers: ctx.bootstrap.split(','),
    ...(ctx.logged ? { logger: keepLog(ctx), logLevel: logLevel.DEBUG } : { logLevel: logLevel.NOTHING }) },
  ...security(ctx.security),
});

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
  errors: {
    authentication: ['ERR__AUTHENTICATION', 'SASL authentication error'],
    untrustedCertificate: ['SSL alert', 'SSL handshake failed'],
    topicAuthorization: ['TOPIC_AUTHORIZATION_FAILED', 'ERR_TOPIC_AUTHORIZATION_FAILED'],
    groupAuthorization: ['GROUP_AUTHORIZATION_FAILED', 'Group authorization failed'],
  },
  /** The error a consumer's group failed with: librdkafka reports it through run()'s
   * rejection or the consumer's error callback, which the KafkaJS layer surfaces as an error. */
  groupError: () => new Promise(() => {}),
  configs: null,
  noConfigs: 'its admin API has no describe/alter configs',
};

const { version } = require('@confluentinc/kafka-javascript/package.json');
const librdkafka = require('@confluentinc/kafka-javascript').librdkafkaVersion;
h.main('confluent-kafka-javascript', `@confluentinc/kafka-javascript ${version} (librdkafka ${librdkafka})`, scenarios(adapter));
