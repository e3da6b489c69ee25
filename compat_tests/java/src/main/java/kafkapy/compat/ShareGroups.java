package kafkapy.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The share-group scenarios (KIP-932) with KafkaShareConsumer in explicit acknowledgement mode;
 * compat_tests/scenarios.py specifies them and holds their data.
 */
final class ShareGroups {
  static final int DISTINCT_COUNT = 30;
  static final int CONSUMERS = 3;
  static final int PERIOD_MS = 100;
  static final int LOCK_MS = 2000;
  static final Duration QUIET = Duration.ofSeconds(3);
  static final int RESTART_COUNT = 6;
  static final int RESTART_ACCEPTED = 3;

  private ShareGroups() {}

  /** A topic of one partition and a group reading it from the start (and {@code configs}). */
  static String[] setup(Main.Ctx ctx, Map<String, String> configs) throws Exception {
    String topic = Main.createTopic(ctx);
    String group = ctx.name("sg");
    Map<String, String> all = new HashMap<>(configs);
    all.put("share.auto.offset.reset", "earliest");
    List<AlterConfigOp> ops = new ArrayList<>();
    all.forEach((k, v) -> ops.add(new AlterConfigOp(new ConfigEntry(k, v), AlterConfigOp.OpType.SET)));
    try (Admin admin = Main.admin(ctx)) {
      admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), ops)).all().get();
    }
    return new String[] {topic, group};
  }

  static KafkaShareConsumer<byte[], byte[]> consumer(Main.Ctx ctx, String group, String topic, int maxRecords) {
    Map<String, Object> conf = new HashMap<>();
    conf.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, ctx.bootstrap());
    conf.putAll(ctx.clientSecurity());
    conf.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    conf.put("share.acknowledgement.mode", "explicit");
    conf.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, maxRecords);
    KafkaShareConsumer<byte[], byte[]> c =
        new KafkaShareConsumer<>(conf, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    c.subscribe(List.of(topic));
    return c;
  }

  static String delivery(ConsumerRecord<byte[], byte[]> r) {
    return r.offset() + ":" + Main.text(r.value()) + ":" + r.deliveryCount().map(String::valueOf).orElse("-");
  }

  /**
   * Deliveries ("offset:value:count") until {@code want} arrived or {@code timeout} passed, each
   * acknowledged as {@code ack} says, the acknowledgements committed after every poll.
   */
  static List<String> deliveries(KafkaShareConsumer<byte[], byte[]> c, int want, Duration timeout,
      Function<ConsumerRecord<byte[], byte[]>, AcknowledgeType> ack) {
    List<String> got = new ArrayList<>();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (got.size() < want && System.nanoTime() < deadline) {
      boolean any = false;
      for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
        got.add(delivery(r));
        c.acknowledge(r, ack.apply(r));
        any = true;
      }
      if (any) c.commitSync();
    }
    return got;
  }

  static void produce(Main.Ctx ctx, String topic, List<String> values) throws Exception {
    List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    for (String v : values) records.add(Main.record(topic, null, v));
    Main.produce(ctx, records, Map.of());
  }

  static boolean firstDeliveryOf(ConsumerRecord<byte[], byte[]> r, String value) {
    return value.equals(Main.text(r.value())) && r.deliveryCount().orElse((short) 1) == 1;
  }

  static String shareDistinct(Main.Ctx ctx) throws Exception {
    String[] tg = setup(ctx, Map.of());
    List<List<Long>> received = new ArrayList<>();
    AtomicBoolean done = new AtomicBoolean();
    List<Thread> threads = new ArrayList<>();
    List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
    for (int i = 0; i < CONSUMERS; i++) {
      List<Long> mine = Collections.synchronizedList(new ArrayList<>());
      received.add(mine);
      Thread t = new Thread(() -> {
        try (KafkaShareConsumer<byte[], byte[]> c = consumer(ctx, tg[1], tg[0], 5)) {
          while (!done.get()) {
            boolean any = false;
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
              mine.add(r.offset());
              c.acknowledge(r, AcknowledgeType.ACCEPT);
              any = true;
            }
            if (any) {
              c.commitSync();
              Thread.sleep(PERIOD_MS);  // leave the other members room to acquire
            }
          }
        } catch (Throwable e) {
          errors.add(e);
        }
      }, "share-" + i);
      t.start();
      threads.add(t);
    }
    Thread.sleep(3000);  // every member joins (assignment) before the records arrive
    try (KafkaProducer<byte[], byte[]> p = Main.producer(ctx, Map.of(ProducerConfig.LINGER_MS_CONFIG, 0))) {
      for (int i = 0; i < DISTINCT_COUNT; i++) {
        p.send(Main.record(tg[0], null, "share-" + i)).get();
        Thread.sleep(PERIOD_MS);
      }
    }
    long deadline = System.nanoTime() + Main.TIMEOUT.toNanos();
    while (System.nanoTime() < deadline && received.stream().mapToInt(List::size).sum() < DISTINCT_COUNT) {
      Thread.sleep(100);
    }
    Thread.sleep(QUIET.toMillis());  // a record delivered twice would show now
    done.set(true);
    for (Thread t : threads) t.join();
    Main.expect(errors.isEmpty(), "consumer error: " + errors);
    List<Long> all = new ArrayList<>();
    for (List<Long> mine : received) all.addAll(mine);
    Collections.sort(all);
    List<Long> expected = new ArrayList<>();
    for (long i = 0; i < DISTINCT_COUNT; i++) expected.add(i);
    Main.eq(all, expected, "offsets delivered, all consumers together");
    List<Integer> counts = new ArrayList<>();
    for (List<Long> mine : received) counts.add(mine.size());
    Main.expect(counts.stream().filter(n -> n > 0).count() >= 2, "one consumer got every record: " + counts);
    return DISTINCT_COUNT + " records once each, per consumer " + counts;
  }

  /** a, b, c; a acknowledged with {@code first}, b and c accepted; then whatever comes back. */
  static List<String> acknowledgeFirst(Main.Ctx ctx, AcknowledgeType first, int want) throws Exception {
    String[] tg = setup(ctx, Map.of());
    produce(ctx, tg[0], List.of("a", "b", "c"));
    try (KafkaShareConsumer<byte[], byte[]> c = consumer(ctx, tg[1], tg[0], 500)) {
      Function<ConsumerRecord<byte[], byte[]>, AcknowledgeType> ack =
          r -> firstDeliveryOf(r, "a") ? first : AcknowledgeType.ACCEPT;
      List<String> got = deliveries(c, want, Main.TIMEOUT, ack);
      got.addAll(deliveries(c, 1, QUIET, ack));
      return got;
    }
  }

  static String shareRelease(Main.Ctx ctx) throws Exception {
    List<String> got = acknowledgeFirst(ctx, AcknowledgeType.RELEASE, 4);
    Main.eq(got, List.of("0:a:1", "1:b:1", "2:c:1", "0:a:2"), "deliveries (offset:value:delivery count)");
    return "a released, redelivered with delivery count 2";
  }

  static String shareReject(Main.Ctx ctx) throws Exception {
    List<String> got = acknowledgeFirst(ctx, AcknowledgeType.REJECT, 3);
    Main.eq(got, List.of("0:a:1", "1:b:1", "2:c:1"), "deliveries (offset:value:delivery count)");
    return "a rejected, not redelivered";
  }

  static String shareLockExpiry(Main.Ctx ctx) throws Exception {
    String[] tg = setup(ctx, Map.of("share.record.lock.duration.ms", String.valueOf(LOCK_MS)));
    produce(ctx, tg[0], List.of("x"));
    try (KafkaShareConsumer<byte[], byte[]> holder = consumer(ctx, tg[1], tg[0], 500)) {
      List<String> held = new ArrayList<>();
      long deadline = System.nanoTime() + Main.TIMEOUT.toNanos();
      while (held.isEmpty() && System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : holder.poll(Duration.ofMillis(200))) held.add(delivery(r));
      }
      Main.eq(held, List.of("0:x:1"), "the first consumer's delivery");
      try (KafkaShareConsumer<byte[], byte[]> taker = consumer(ctx, tg[1], tg[0], 500)) {
        List<String> got = deliveries(taker, 1, Main.TIMEOUT.plusMillis(LOCK_MS), r -> AcknowledgeType.ACCEPT);
        Main.eq(got, List.of("0:x:2"), "the second consumer's delivery, after the lock expired");
      }
    }
    return "x redelivered to another consumer with delivery count 2 after its " + LOCK_MS + " ms lock";
  }

  static String shareRestart(Main.Ctx ctx) throws Exception {
    String[] tg = setup(ctx, Map.of());
    List<String> values = new ArrayList<>();
    for (int i = 0; i < RESTART_COUNT; i++) values.add("m" + i);
    produce(ctx, tg[0], values);
    Set<String> accepted = new HashSet<>(values.subList(0, RESTART_ACCEPTED));
    try (KafkaShareConsumer<byte[], byte[]> c = consumer(ctx, tg[1], tg[0], 500)) {
      List<String> first = deliveries(c, RESTART_COUNT, Main.TIMEOUT,
          r -> accepted.contains(Main.text(r.value())) ? AcknowledgeType.ACCEPT : AcknowledgeType.RELEASE);
      Main.eq(first.size(), RESTART_COUNT, "first deliveries " + first);
    }
    Main.FaultRequest restart = new Main.FaultRequest(ctx, tg[0], 0, "restart");
    Main.expect(restart.await(Main.FAILOVER_WAIT), "the harness did not answer the restart request");
    String how = restart.result();
    try (KafkaShareConsumer<byte[], byte[]> c = consumer(ctx, tg[1], tg[0], 500)) {
      List<String> got = deliveries(c, RESTART_COUNT - RESTART_ACCEPTED, Duration.ofSeconds(60), r -> AcknowledgeType.ACCEPT);
      got.addAll(deliveries(c, 1, QUIET, r -> AcknowledgeType.ACCEPT));
      List<String> records = new ArrayList<>();
      for (String d : got) {
        records.add(d.substring(0, d.lastIndexOf(':')));
        int count = Integer.parseInt(d.substring(d.lastIndexOf(':') + 1));
        Main.expect(count >= 2, "deliveries after the restart: delivery count below 2: " + got);
      }
      Main.eq(records, List.of("3:m3", "4:m4", "5:m5"), "deliveries after the restart (offset:value)");
    }
    return "released records redelivered after the restart, accepted ones not; " + how;
  }
}
