package kafkapy.compat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java kafka-clients driver: runs the compatibility scenarios (see compat_tests/scenarios.py
 * for their specification and data) in one JVM and prints one JSON line per scenario.
 */
public final class Main {
  static final Duration TIMEOUT = Duration.ofSeconds(15);
  static final List<String> CODECS = List.of("none", "gzip", "snappy", "lz4", "zstd");
  static final List<String[]> HEADERS =
      List.of(
          new String[] {"trace-id", "abc-123"},
          new String[] {"dup", "1"},
          new String[] {"dup", "2"},
          new String[] {"utf8", "h\u00e9llo"},
          new String[] {"empty", ""});
  static final List<String> TXN_C1 = List.of("c1-0", "c1-1", "c1-2");
  static final List<String> TXN_ABORTED = List.of("a-0", "a-1", "a-2");
  static final List<String> TXN_C2 = List.of("c2-0", "c2-1");

  /** A scenario check that did not hold. */
  static final class Failed extends RuntimeException {
    Failed(String message) {
      super(message);
    }
  }

  /** The scenario cannot run here (the message says why): an n/a cell, not a failure. */
  static final class NotApplicable extends RuntimeException {
    NotApplicable(String message) {
      super(message);
    }
  }

  interface Scenario {
    String run(Ctx ctx) throws Exception;
  }

  /**
   * Broker address, replication factor of created topics, the client security settings of a
   * secured run (compat_tests/driver.py lists the keys; empty: PLAINTEXT) and unique names for one
   * scenario run.
   */
  record Ctx(String bootstrap, String scenario, short replicationFactor, Map<String, String> security) {
    String name(String kind) {
      return "compat-java-" + scenario + "-" + kind + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** The security settings as Kafka's client configs: a PEM trust store (and key store, mTLS). */
    Map<String, Object> clientSecurity() {
      Map<String, Object> conf = new HashMap<>();
      if (security.isEmpty()) return conf;
      conf.put("security.protocol", security.get("security_protocol"));
      conf.put("ssl.truststore.type", "PEM");
      conf.put("ssl.truststore.location", security.get("ca_file"));
      if (security.containsKey("keystore_pem")) {
        conf.put("ssl.keystore.type", "PEM");
        conf.put("ssl.keystore.location", security.get("keystore_pem"));
      }
      if (security.containsKey("username")) {
        conf.put("sasl.mechanism", security.get("mechanism"));
        conf.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
            + security.get("username") + "\" password=\"" + security.get("password") + "\";");
      }
      return conf;
    }

    /** This context presenting its subject from a CA the broker does not trust. */
    Ctx withUntrustedCertificate() {
      if (!security.containsKey("untrusted_keystore_pem")) {
        throw new NotApplicable("no client certificate (" + security.getOrDefault("security_protocol", "PLAINTEXT") + ")");
      }
      Map<String, String> other = new HashMap<>(security);
      other.put("keystore_pem", security.get("untrusted_keystore_pem"));
      return new Ctx(bootstrap, scenario, replicationFactor, other);
    }

    /** This context with the wrong password of the auth_wrong_password scenario. */
    Ctx withWrongPassword() {
      if (!security.containsKey("wrong_password")) {
        throw new NotApplicable("no SASL password to get wrong (" + security.getOrDefault("security_protocol", "PLAINTEXT") + ")");
      }
      Map<String, String> wrong = new HashMap<>(security);
      wrong.put("password", security.get("wrong_password"));
      return new Ctx(bootstrap, scenario, replicationFactor, wrong);
    }
  }

  // ---------------------------------------------------------------- checks

  static void expect(boolean condition, String message) {
    if (!condition) throw new Failed(message);
  }

  static void eq(Object actual, Object expected, String what) {
    if (!Objects.equals(actual, expected)) {
      throw new Failed(what + ": got " + actual + ", expected " + expected);
    }
  }

  static List<Object> tuple(Object... items) {
    return Arrays.asList(items);
  }

  interface Look {
    void run() throws Exception;
  }

  /**
   * Runs {@code look} until it passes, for at most TIMEOUT, then once more letting its failure end
   * the scenario: a broker of a cluster learns a metadata change (a new topic, an altered config) a
   * moment after the controller acknowledged it, and admin clients may ask any broker.
   */
  static void eventually(Look look) throws Exception {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        look.run();
        return;
      } catch (Exception e) {
        Thread.sleep(100);
      }
    }
    look.run();
  }

  // ---------------------------------------------------------------- data

  static byte[] bytes(String s) {
    return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
  }

  static String text(byte[] b) {
    return b == null ? null : new String(b, StandardCharsets.UTF_8);
  }

  static String[] codecRecord(int i) {
    return new String[] {"key-" + i, "value-" + i + "-" + "x".repeat(200)};
  }

  static String[] keysRecord(int i) {
    return new String[] {i % 6 == 5 ? null : "user-" + (i % 4), "v" + i};
  }

  static long baseTimestamp() {
    return (System.currentTimeMillis() / 1000 - 86_400) * 1000;
  }

  // ---------------------------------------------------------------- client helpers

  static Admin admin(Ctx ctx) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.bootstrap());
    p.putAll(ctx.clientSecurity());
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    return Admin.create(p);
  }

  static String createTopic(Ctx ctx, int partitions, Map<String, String> configs) throws Exception {
    String topic = ctx.name("t");
    try (Admin admin = admin(ctx)) {
      admin.createTopics(List.of(new NewTopic(topic, partitions, ctx.replicationFactor()).configs(configs))).all().get();
    }
    return topic;
  }

  static String createTopic(Ctx ctx) throws Exception {
    return createTopic(ctx, 1, Map.of());
  }

  static KafkaProducer<byte[], byte[]> producer(Ctx ctx, Map<String, Object> overrides) {
    Map<String, Object> conf = new HashMap<>();
    conf.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.bootstrap());
    conf.putAll(ctx.clientSecurity());
    conf.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    conf.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    conf.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    conf.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) TIMEOUT.toMillis());
    conf.putAll(overrides);
    return new KafkaProducer<>(conf, new ByteArraySerializer(), new ByteArraySerializer());
  }

  static void produce(Ctx ctx, List<ProducerRecord<byte[], byte[]>> records, Map<String, Object> overrides)
      throws Exception {
    try (KafkaProducer<byte[], byte[]> producer = producer(ctx, overrides)) {
      List<Future<RecordMetadata>> futures = new ArrayList<>();
      for (ProducerRecord<byte[], byte[]> r : records) futures.add(producer.send(r));
      producer.flush();
      for (Future<RecordMetadata> f : futures) f.get();
    }
  }

  static ProducerRecord<byte[], byte[]> record(String topic, String key, String value) {
    return new ProducerRecord<>(topic, bytes(key), bytes(value));
  }

  static KafkaConsumer<byte[], byte[]> consumer(Ctx ctx, String group, Map<String, Object> overrides) {
    Map<String, Object> conf = new HashMap<>();
    conf.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.bootstrap());
    conf.putAll(ctx.clientSecurity());
    if (group != null) conf.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    conf.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    conf.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    conf.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 2_000_000);
    conf.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
    conf.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
    conf.putAll(overrides);
    return new KafkaConsumer<>(conf, new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  /** Poll until {@code count} records, or the record holding {@code stopValue}, arrived. */
  static List<ConsumerRecord<byte[], byte[]>> poll(
      KafkaConsumer<byte[], byte[]> consumer, int count, String stopValue) {
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (out.size() < count && System.nanoTime() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        if (out.size() < count) out.add(r);
        if (stopValue != null && stopValue.equals(text(r.value()))) return out;
      }
    }
    return out;
  }

  static List<ConsumerRecord<byte[], byte[]>> consume(
      Ctx ctx, String topic, int count, int partitions, Map<String, Object> overrides) {
    try (KafkaConsumer<byte[], byte[]> consumer = consumer(ctx, null, overrides)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int p = 0; p < partitions; p++) tps.add(new TopicPartition(topic, p));
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      List<ConsumerRecord<byte[], byte[]>> out = poll(consumer, count, null);
      eq(out.size(), count, "records consumed");
      return out;
    }
  }

  // ---------------------------------------------------------------- scenarios

  static Scenario codec(String codec) {
    return ctx -> {
      String topic = createTopic(ctx);
      List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
      List<Object> expected = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        String[] kv = codecRecord(i);
        records.add(record(topic, kv[0], kv[1]));
        expected.add(tuple((long) i, kv[0], kv[1]));
      }
      produce(ctx, records, Map.of(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec));
      List<Object> got = new ArrayList<>();
      for (ConsumerRecord<byte[], byte[]> r : consume(ctx, topic, 20, 1, Map.of())) {
        got.add(tuple(r.offset(), text(r.key()), text(r.value())));
      }
      eq(got, expected, "consumed (offset, key, value)");
      return "20 records";
    };
  }

  static String keys(Ctx ctx) throws Exception {
    String topic = createTopic(ctx, 3, Map.of());
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    Map<String, List<String>> produced = new TreeMap<>();
    List<String> expectedPairs = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      String[] kv = keysRecord(i);
      records.add(record(topic, kv[0], kv[1]));
      expectedPairs.add(kv[0] + "=" + kv[1]);
      if (kv[0] != null) produced.computeIfAbsent(kv[0], k -> new ArrayList<>()).add(kv[1]);
    }
    produce(ctx, records, Map.of());
    List<ConsumerRecord<byte[], byte[]>> got = consume(ctx, topic, 30, 3, Map.of());
    List<String> gotPairs = new ArrayList<>();
    Map<String, TreeMap<Long, String>> byKey = new TreeMap<>();
    Map<String, Set<Integer>> partitionsOf = new HashMap<>();
    Set<Integer> used = new java.util.HashSet<>();
    for (ConsumerRecord<byte[], byte[]> r : got) {
      String key = text(r.key());
      gotPairs.add(key + "=" + text(r.value()));
      used.add(r.partition());
      if (key == null) continue;
      partitionsOf.computeIfAbsent(key, k -> new java.util.HashSet<>()).add(r.partition());
      byKey.computeIfAbsent(key, k -> new TreeMap<>()).put(r.offset(), text(r.value()));
    }
    expectedPairs.sort(null);
    gotPairs.sort(null);
    eq(gotPairs, expectedPairs, "consumed key=value multiset");
    for (String key : produced.keySet()) {
      eq(partitionsOf.get(key).size(), 1, "partitions of key " + key);
      eq(new ArrayList<>(byKey.get(key).values()), produced.get(key), "order of key " + key);
    }
    return "30 records over " + used.size() + " of 3 partitions";
  }

  static String headers(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    List<Object> expected = new ArrayList<>();
    for (String[] h : HEADERS) expected.add(tuple(h[0], h[1]));
    for (int i = 0; i < 3; i++) {
      List<Header> hs = new ArrayList<>();
      for (String[] h : HEADERS) hs.add(new RecordHeader(h[0], bytes(h[1])));
      records.add(new ProducerRecord<>(topic, null, null, null, bytes("h" + i), hs));
    }
    produce(ctx, records, Map.of());
    for (ConsumerRecord<byte[], byte[]> r : consume(ctx, topic, 3, 1, Map.of())) {
      List<Object> got = new ArrayList<>();
      for (Header h : r.headers()) got.add(tuple(h.key(), h.value() == null ? "" : text(h.value())));
      eq(got, expected, "headers at offset " + r.offset());
    }
    return "5 headers x 3 records";
  }

  static String timestamps(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    long base = baseTimestamp();
    long[] ts = {base, base + 1, base + 1000};
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    List<Object> expected = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      records.add(new ProducerRecord<>(topic, null, ts[i], null, bytes("t" + i)));
      expected.add(tuple((long) i, ts[i], TimestampType.CREATE_TIME));
    }
    produce(ctx, records, Map.of());
    List<Object> got = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : consume(ctx, topic, 3, 1, Map.of())) {
      got.add(tuple(r.offset(), r.timestamp(), r.timestampType()));
    }
    eq(got, expected, "(offset, timestamp, type)");
    return "CreateTime round trip";
  }

  static String largeMessage(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    byte[] payload = new byte[1_000_000];
    new SecureRandom().nextBytes(payload);
    produce(
        ctx,
        List.of(new ProducerRecord<>(topic, null, payload)),
        Map.of(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 2_000_000));
    byte[] got = consume(ctx, topic, 1, 1, Map.of()).get(0).value();
    eq(got.length, payload.length, "value length");
    expect(Arrays.equals(got, payload), "value bytes differ");
    return got.length + " bytes";
  }

  static String groupCommitResume(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    String group = ctx.name("g");
    TopicPartition tp = new TopicPartition(topic, 0);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 10; i++) records.add(record(topic, null, "g" + i));
    produce(ctx, records, Map.of());
    List<Long> first = new ArrayList<>();
    long committed;
    try (KafkaConsumer<byte[], byte[]> c = consumer(ctx, group, Map.of())) {
      c.subscribe(List.of(topic));
      for (ConsumerRecord<byte[], byte[]> r : poll(c, 6, null)) first.add(r.offset());
      c.commitSync(Map.of(tp, new OffsetAndMetadata(6)));
      committed = c.committed(Set.of(tp)).get(tp).offset();
    }
    List<Long> second = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = consumer(ctx, group, Map.of())) {
      c.subscribe(List.of(topic));
      for (ConsumerRecord<byte[], byte[]> r : poll(c, 4, null)) second.add(r.offset());
    }
    eq(first, List.of(0L, 1L, 2L, 3L, 4L, 5L), "first consumer offsets");
    eq(committed, 6L, "committed offset");
    eq(second, List.of(6L, 7L, 8L, 9L), "second consumer offsets");
    return "resumed at 6, committed 6";
  }

  static String idempotentProducer(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    List<Object> expected = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      records.add(record(topic, null, "idem-" + i));
      expected.add(tuple((long) i, "idem-" + i));
    }
    produce(
        ctx,
        records,
        Map.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.ACKS_CONFIG, "all"));
    List<Object> got = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : consume(ctx, topic, 50, 1, Map.of())) {
      got.add(tuple(r.offset(), text(r.value())));
    }
    eq(got, expected, "(offset, value)");
    return "50 records exactly once";
  }

  static String transactions(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    try (KafkaProducer<byte[], byte[]> p =
        producer(ctx, Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, ctx.name("txn")))) {
      p.initTransactions();
      List<List<String>> txns = List.of(TXN_C1, TXN_ABORTED, TXN_C2);
      for (List<String> values : txns) {
        p.beginTransaction();
        for (String v : values) p.send(record(topic, null, v));
        p.flush();
        if (values == TXN_ABORTED) p.abortTransaction();
        else p.commitTransaction();
      }
    }
    Map<String, List<Object>> read = new HashMap<>();
    for (String isolation : List.of("read_committed", "read_uncommitted")) {
      try (KafkaConsumer<byte[], byte[]> c =
          consumer(ctx, null, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation))) {
        TopicPartition tp = new TopicPartition(topic, 0);
        c.assign(List.of(tp));
        c.seekToBeginning(List.of(tp));
        List<Object> got = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : poll(c, 8, "c2-1")) got.add(tuple(r.offset(), text(r.value())));
        read.put(isolation, got);
      }
    }
    List<Object> committed =
        List.of(tuple(0L, "c1-0"), tuple(1L, "c1-1"), tuple(2L, "c1-2"), tuple(8L, "c2-0"), tuple(9L, "c2-1"));
    eq(read.get("read_committed"), committed, "read_committed");
    List<String> all = new ArrayList<>(TXN_C1);
    all.addAll(TXN_ABORTED);
    all.addAll(TXN_C2);
    List<Object> values = new ArrayList<>();
    for (Object t : read.get("read_uncommitted")) values.add(((List<?>) t).get(1));
    eq(values, all, "read_uncommitted values");
    return "abort hidden from read_committed, visible to read_uncommitted";
  }

  static String adminScenario(Ctx ctx) throws Exception {
    String topic = createTopic(ctx, 3, Map.of("retention.ms", "123456789"));
    try (Admin admin = admin(ctx)) {
      eventually(() -> {
        int partitions = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
        eq(partitions, 3, "partitions");
      });
      ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
      eventually(() -> {
        ConfigEntry entry = admin.describeConfigs(List.of(resource)).all().get().get(resource).get("retention.ms");
        eq(entry.value(), "123456789", "retention.ms");
        eq(entry.source(), ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms source");
      });
      Map<ConfigResource, Collection<AlterConfigOp>> change =
          Map.of(
              resource,
              List.of(new AlterConfigOp(new ConfigEntry("retention.ms", "987654321"), AlterConfigOp.OpType.SET)));
      admin.incrementalAlterConfigs(change).all().get();
      eventually(() -> {
        ConfigEntry entry = admin.describeConfigs(List.of(resource)).all().get().get(resource).get("retention.ms");
        eq(entry.value(), "987654321", "retention.ms after alter");
      });
      admin.deleteTopics(List.of(topic)).all().get();
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (admin.listTopics().names().get().contains(topic)) {
        expect(System.nanoTime() < deadline, "deleted topic still listed");
        Thread.sleep(200);
      }
    }
    return "create, describe, describe configs, incremental alter, delete";
  }

  static String offsetsForTimes(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    long base = baseTimestamp();
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 3; i++) records.add(new ProducerRecord<>(topic, null, base + 1000L * i, null, bytes("o" + i)));
    produce(ctx, records, Map.of());
    TopicPartition tp = new TopicPartition(topic, 0);
    long[] queries = {base - 1, base + 500, base + 2000, base + 2001};
    List<Object> expected = List.of(0L, 1L, 2L, "none");
    List<Object> found = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = consumer(ctx, null, Map.of())) {
      for (long q : queries) {
        OffsetAndTimestamp answer = c.offsetsForTimes(Map.of(tp, q)).get(tp);
        found.add(answer == null ? "none" : (Object) answer.offset());
      }
    }
    eq(found, expected, "offsets for " + Arrays.toString(queries));
    return "4 lookups";
  }

  static String seek(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (int i = 0; i < 5; i++) records.add(record(topic, null, "s" + i));
    produce(ctx, records, Map.of());
    TopicPartition tp = new TopicPartition(topic, 0);
    try (KafkaConsumer<byte[], byte[]> c = consumer(ctx, null, Map.of())) {
      c.assign(List.of(tp));
      c.seekToEnd(List.of(tp));
      eq(c.position(tp), 5L, "position after seek to end");
      produce(ctx, List.of(record(topic, null, "after-end")), Map.of());
      List<ConsumerRecord<byte[], byte[]>> after = poll(c, 1, null);
      expect(!after.isEmpty(), "nothing read after seek to end");
      eq(tuple(after.get(0).offset(), text(after.get(0).value())), tuple(5L, "after-end"), "record after end");
      c.seekToBeginning(List.of(tp));
      List<ConsumerRecord<byte[], byte[]>> beginning = poll(c, 1, null);
      expect(!beginning.isEmpty(), "nothing read after seek to beginning");
      eq(beginning.get(0).offset(), 0L, "offset after seek to beginning");
      c.seek(tp, 3);
      List<ConsumerRecord<byte[], byte[]>> absolute = poll(c, 1, null);
      expect(!absolute.isEmpty(), "nothing read after seek to 3");
      eq(absolute.get(0).offset(), 3L, "offset after seek to 3");
    }
    return "end, beginning, absolute";
  }

  /**
   * Asks the harness for a fault on a partition (an "await" line, see compat_tests/driver.py) and
   * reads its one-line answer from stdin on a daemon thread, so the scenario keeps producing.
   */
  static final class FaultRequest {
    private final CompletableFuture<String> answer = new CompletableFuture<>();

    FaultRequest(Ctx ctx, String topic, int partition) {
      this(ctx, topic, partition, "failover");
    }

    /** {@code kind}: failover (kill the partition's leader) or restart (the broker). */
    FaultRequest(Ctx ctx, String topic, int partition, String kind) {
      System.out.println("{\"await\": \"fault\", \"fault\": " + json(kind) + ", \"scenario\": " + json(ctx.scenario())
          + ", \"topic\": " + json(topic) + ", \"partition\": " + partition + "}");
      System.out.flush();
      Thread reader = new Thread(() -> {
        try {
          String line = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
          answer.complete(line == null ? "" : line);
        } catch (IOException e) {
          answer.complete("");
        }
      }, "fault-answer");
      reader.setDaemon(true);
      reader.start();
    }

    boolean answered() {
      return answer.isDone();
    }

    boolean await(Duration timeout) throws Exception {
      try {
        answer.get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        return true;
      } catch (java.util.concurrent.TimeoutException e) {
        return false;
      }
    }

    /** The harness's account of the fault; NotApplicable if it could not make one. */
    String result() {
      String line = answer.getNow("");
      Matcher done = Pattern.compile("\"fault\":\\s*\"done\"").matcher(line);
      if (!done.find()) {
        Matcher why = Pattern.compile("\"reason\":\\s*\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(line);
        throw new NotApplicable(why.find() ? why.group(1).replace("\\\"", "\"") : "the harness made no fault: " + line);
      }
      Matcher detail = Pattern.compile("\"detail\":\\s*\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(line);
      return detail.find() ? detail.group(1).replace("\\\"", "\"") : "";
    }
  }

  static final int FAILOVER_BROKERS = 3;
  static final short FAILOVER_REPLICATION = 3;
  static final int FAILOVER_PERIOD_MS = 10;
  static final int FAILOVER_BEFORE = 20;
  static final int FAILOVER_AFTER = 50;
  static final Duration FAILOVER_WAIT = Duration.ofSeconds(120);

  static long failoverSeq(String value) {
    return Long.parseLong(value.substring("fo-".length()));
  }

  static String failover(Ctx ctx) throws Exception {
    String topic = ctx.name("t");
    try (Admin admin = admin(ctx)) {
      int brokers = admin.describeCluster().nodes().get().size();
      if (brokers < FAILOVER_BROKERS) {
        throw new NotApplicable("needs " + FAILOVER_BROKERS + " brokers for replication factor " + FAILOVER_REPLICATION
            + "; the cluster has " + brokers);
      }
      admin.createTopics(List.of(new NewTopic(topic, 1, FAILOVER_REPLICATION).configs(Map.of("min.insync.replicas", "2"))))
          .all().get();
    }
    Map<Long, Long> acked = new ConcurrentHashMap<>();
    List<String> failures = Collections.synchronizedList(new ArrayList<>());
    List<Object[]> consumed = new ArrayList<>();
    Set<Long> seen = new HashSet<>();
    TopicPartition tp = new TopicPartition(topic, 0);
    long sent = 0;
    long afterFrom = -1;
    String fault = null;
    Map<String, Object> producerConf = Map.of(
        ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
        ProducerConfig.ACKS_CONFIG, "all",
        ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 90_000);
    try (KafkaProducer<byte[], byte[]> p = producer(ctx, producerConf);
        KafkaConsumer<byte[], byte[]> c = consumer(ctx, null, Map.of(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100))) {
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      FaultRequest request = null;
      long started = System.nanoTime();
      long nextAt = started;
      while (afterFrom < 0 || sent < afterFrom + FAILOVER_AFTER) {
        long now = System.nanoTime();
        if (request == null) {
          expect(now - started < TIMEOUT.toNanos(),
              "only " + acked.size() + " records acknowledged before the fault; errors: " + failures);
          if (acked.size() >= FAILOVER_BEFORE) request = new FaultRequest(ctx, topic, 0);
        } else if (afterFrom < 0 && request.answered()) {
          fault = request.result();
          afterFrom = sent;
        } else if (afterFrom < 0) {
          expect(now - started < FAILOVER_WAIT.toNanos(), "the harness did not answer the fault request");
        }
        if (now >= nextAt) {
          final long seq = sent;
          p.send(record(topic, null, "fo-" + seq), (metadata, error) -> {
            if (error != null) failures.add(error.toString());
            else acked.put(seq, metadata.offset());
          });
          sent++;
          nextAt += FAILOVER_PERIOD_MS * 1_000_000L;
        }
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(5))) {
          consumed.add(new Object[] {r.offset(), text(r.value())});
          seen.add(failoverSeq(text(r.value())));
        }
      }
      p.flush();
      long last = acked.keySet().stream().mapToLong(Long::longValue).max().orElse(-1);
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (!seen.contains(last) && System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          consumed.add(new Object[] {r.offset(), text(r.value())});
          seen.add(failoverSeq(text(r.value())));
        }
      }
    }
    return checkFailover(acked, sent, afterFrom, consumed, failures, fault);
  }

  /**
   * The failover checks of compat_tests/checks.py, for the same stream: the log as the consumer
   * read it (by offset; an offset read again must hold the same record) holds every acknowledged
   * record once, at its acknowledged offset, in the order sent.
   */
  static String checkFailover(
      Map<Long, Long> acked, long sent, long afterFrom, List<Object[]> consumed, List<String> failures, String fault) {
    TreeMap<Long, String> byOffset = new TreeMap<>();
    List<String> conflicts = new ArrayList<>();
    for (Object[] r : consumed) {
      String before = byOffset.putIfAbsent((Long) r[0], (String) r[1]);
      if (before != null && !before.equals(r[1])) conflicts.add(r[0] + ": " + before + " then " + r[1]);
    }
    expect(conflicts.isEmpty(), "different records read at the same offset: " + conflicts.subList(0, Math.min(5, conflicts.size())));
    Map<Long, Long> at = new HashMap<>();
    List<Long> duplicated = new ArrayList<>();
    List<String> reordered = new ArrayList<>();
    long previous = -1;
    for (Map.Entry<Long, String> e : byOffset.entrySet()) {
      long seq = failoverSeq(e.getValue());
      if (at.put(seq, e.getKey()) != null) duplicated.add(seq);
      if (seq < previous) reordered.add(previous + " then " + seq);
      previous = seq;
    }
    expect(duplicated.isEmpty(), "records in the log more than once: " + duplicated);
    expect(reordered.isEmpty(), "records out of order in the log: " + reordered);
    List<Long> lost = new ArrayList<>();
    List<String> moved = new ArrayList<>();
    for (Map.Entry<Long, Long> e : new TreeMap<>(acked).entrySet()) {
      Long offset = at.get(e.getKey());
      if (offset == null) lost.add(e.getKey());
      else if (e.getValue() >= 0 && !offset.equals(e.getValue())) {
        moved.add(e.getKey() + " acked at " + e.getValue() + ", consumed at " + offset);
      }
    }
    expect(lost.isEmpty(), lost.size() + " of " + acked.size() + " acknowledged records never consumed: "
        + lost.subList(0, Math.min(10, lost.size())));
    expect(moved.isEmpty(), "acknowledged at one offset, consumed at another: " + moved.subList(0, Math.min(5, moved.size())));
    long late = 0;
    for (long s = afterFrom; s < sent; s++) if (!acked.containsKey(s)) late++;
    expect(late == 0, late + " of the " + (sent - afterFrom) + " records sent after the fault not acknowledged; errors: "
        + failures.subList(0, Math.min(3, failures.size())));
    long unacked = sent - acked.size();
    long reread = consumed.size() - byOffset.size();
    return acked.size() + " acknowledged records (" + (sent - afterFrom) + " after the fault"
        + (unacked > 0 ? ", " + unacked + " unacknowledged during it" : "") + ") consumed exactly once, in order"
        + (reread > 0 ? " (" + reread + " reads of an offset read before)" : "") + "; " + fault;
  }

  // ---------------------------------------------------------------- runner

  // ---------------------------------------------------------------- negative scenarios (secured runs)

  /** The first of {@code e} and its causes that is a {@code kind}, else a failure naming what came. */
  static String expectCause(Throwable e, Class<? extends Throwable> kind) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (kind.isInstance(t)) return t.getClass().getSimpleName() + ": " + t.getMessage();
    }
    throw new Failed("expected " + kind.getSimpleName() + ", got " + e);
  }

  static String authWrongPassword(Ctx ctx) throws Exception {
    try (Admin admin = admin(ctx.withWrongPassword())) {
      admin.listTopics().names().get();
    } catch (Exception e) {
      return expectCause(e, org.apache.kafka.common.errors.SaslAuthenticationException.class);
    }
    throw new Failed("connected with a wrong password");
  }

  static String authUntrustedCertificate(Ctx ctx) throws Exception {
    try (Admin admin = admin(ctx.withUntrustedCertificate())) {
      admin.listTopics().names().get();
    } catch (Exception e) {
      return expectCause(e, org.apache.kafka.common.errors.SslAuthenticationException.class);
    }
    throw new Failed("connected with an untrusted certificate");
  }

  static String aclTopicWriteDenied(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    try {
      produce(ctx, List.of(record(topic, null, "denied")), Map.of());
    } catch (Exception e) {
      return expectCause(e, org.apache.kafka.common.errors.TopicAuthorizationException.class);
    }
    throw new Failed("produced to a topic without WRITE");
  }

  static String aclGroupReadDenied(Ctx ctx) throws Exception {
    String topic = createTopic(ctx);
    produce(ctx, List.of(record(topic, null, "one")), Map.of());
    try (KafkaConsumer<byte[], byte[]> c = consumer(ctx, ctx.name("g"), Map.of())) {
      c.subscribe(List.of(topic));
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (System.nanoTime() < deadline) {
        if (!c.poll(Duration.ofMillis(200)).isEmpty()) throw new Failed("consumed in a group without READ");
      }
    } catch (Exception e) {
      if (e instanceof Failed) throw e;
      return expectCause(e, org.apache.kafka.common.errors.GroupAuthorizationException.class);
    }
    throw new Failed("no GroupAuthorizationException in " + TIMEOUT.toSeconds() + " s");
  }

  static Map<String, Scenario> scenarios() {
    Map<String, Scenario> all = new LinkedHashMap<>();
    for (String codec : CODECS) all.put("codec_" + codec, codec(codec));
    all.put("keys", Main::keys);
    all.put("headers", Main::headers);
    all.put("timestamps", Main::timestamps);
    all.put("large_message", Main::largeMessage);
    all.put("group_commit_resume", Main::groupCommitResume);
    all.put("idempotent_producer", Main::idempotentProducer);
    all.put("transactions", Main::transactions);
    all.put("admin", Main::adminScenario);
    all.put("offsets_for_times", Main::offsetsForTimes);
    all.put("seek", Main::seek);
    all.put("failover", Main::failover);
    all.put("auth_wrong_password", Main::authWrongPassword);
    all.put("auth_untrusted_certificate", Main::authUntrustedCertificate);
    all.put("acl_topic_write_denied", Main::aclTopicWriteDenied);
    all.put("acl_group_read_denied", Main::aclGroupReadDenied);
    all.put("share_distinct", ShareGroups::shareDistinct);
    all.put("share_release", ShareGroups::shareRelease);
    all.put("share_reject", ShareGroups::shareReject);
    all.put("share_lock_expiry", ShareGroups::shareLockExpiry);
    all.put("share_restart", ShareGroups::shareRestart);
    all.put("streams_group", StreamsWordCount::streamsGroup);
    return all;
  }

  static String json(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      switch (ch) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        default -> {
          if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
          else b.append(ch);
        }
      }
    }
    return b.append('"').toString();
  }

  static void emit(String scenario, String status, String detail) {
    System.out.println(
        "{\"scenario\": " + json(scenario) + ", \"status\": " + json(status) + ", \"detail\": " + json(detail) + "}");
    System.out.flush();
  }

  /** The --security file: a flat JSON object of strings (compat_tests/driver.py). */
  @SuppressWarnings("unchecked")
  static Map<String, String> readSecurity(String path) {
    try {
      return new com.fasterxml.jackson.databind.ObjectMapper().readValue(new java.io.File(path), Map.class);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + path, e);
    }
  }

  /** kafka-clients' version, from the properties file its jar carries (AppInfoParser moved in 4.4). */
  static String clientsVersion() {
    Properties p = new Properties();
    try (java.io.InputStream in = Main.class.getResourceAsStream("/kafka/kafka-version.properties")) {
      if (in != null) p.load(in);
    } catch (IOException e) {
      return "unknown";
    }
    return p.getProperty("version", "unknown");
  }

  public static void main(String[] args) {
    String bootstrap = null;
    String wanted = "all";
    short replicationFactor = 1;
    Map<String, String> security = Map.of();
    for (int i = 0; i < args.length - 1; i++) {
      if (args[i].equals("--bootstrap")) bootstrap = args[i + 1];
      if (args[i].equals("--scenarios")) wanted = args[i + 1];
      if (args[i].equals("--replication-factor")) replicationFactor = Short.parseShort(args[i + 1]);
      if (args[i].equals("--security")) security = readSecurity(args[i + 1]);
    }
    if (bootstrap == null) {
      System.err.println("usage: Main --bootstrap HOST:PORT [--scenarios a,b|all] [--replication-factor N] [--security FILE]");
      System.exit(2);
    }
    Map<String, Scenario> all = scenarios();
    List<String> names = wanted.equals("all") ? new ArrayList<>(all.keySet()) : List.of(wanted.split(","));
    System.out.println("{\"version\": " + json("kafka-clients " + clientsVersion()) + "}");
    for (String name : names) {
      Scenario s = all.get(name);
      if (s == null) {
        emit(name, "n/a", "not implemented for this client");
        continue;
      }
      long started = System.nanoTime();
      try {
        String detail = s.run(new Ctx(bootstrap, name, replicationFactor, security));
        emit(name, "pass", String.format("%s (%.1fs)", detail, (System.nanoTime() - started) / 1e9));
      } catch (NotApplicable e) {
        emit(name, "n/a", e.getMessage());
      } catch (Failed e) {
        emit(name, "fail", e.getMessage());
      } catch (Exception e) {
        e.printStackTrace();
        Throwable root = e.getCause() != null ? e.getCause() : e;
        emit(name, "fail", root.getClass().getSimpleName() + ": " + root.getMessage());
      }
    }
    System.exit(0);
  }
}
