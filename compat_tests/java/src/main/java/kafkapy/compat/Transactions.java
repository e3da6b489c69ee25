package kafkapy.compat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Transactions with the Java KafkaProducer, one step per process so that a test can kill the
 * producer's JVM in the middle of a transaction. Every mode prints lines a test reads:
 *
 * <pre>
 *   commit-abort BOOTSTRAP TOPIC TXN_ID        commit c0..c9, abort a0..a9 (flushed), commit "last"
 *   read BOOTSTRAP TOPIC PARTITIONS ISOLATION  every value up to the end of each partition, one a line
 *   copy BOOTSTRAP SOURCE SINK GROUP TXN_ID TOTAL [--die-at N]
 *                                              consume-transform-produce in transactions with the
 *                                              input offsets; with --die-at, once N records are
 *                                              committed it leaves one transaction open, prints
 *                                              "open" and waits to be killed
 *   fence BOOTSTRAP TOPIC TXN_ID               a second producer with the same id fences the first
 * </pre>
 */
public final class Transactions {
  static final Duration POLL = Duration.ofMillis(200);
  static final Duration TIMEOUT = Duration.ofSeconds(30);

  private Transactions() {}

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "commit-abort" -> commitAbort(args[1], args[2], args[3]);
      case "read" -> read(args[1], args[2], Integer.parseInt(args[3]), args[4]);
      case "copy" -> copy(args[1], args[2], args[3], args[4], args[5], Integer.parseInt(args[6]),
          args.length > 8 && args[7].equals("--die-at") ? Integer.parseInt(args[8]) : -1);
      case "fence" -> fence(args[1], args[2], args[3]);
      default -> throw new IllegalArgumentException("unknown mode " + args[0]);
    }
    System.out.flush();
  }

  static KafkaProducer<byte[], byte[]> producer(String bootstrap, String transactionalId) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) TIMEOUT.toMillis());
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
    KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p);
    producer.initTransactions();
    return producer;
  }

  static KafkaConsumer<byte[], byte[]> consumer(String bootstrap, String group, String isolation) {
    Properties c = new Properties();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
    // A killed copier's member leaves the group at the broker's minimum session timeout.
    c.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
    c.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1000);
    c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
    return new KafkaConsumer<>(c);
  }

  static ProducerRecord<byte[], byte[]> record(String topic, Integer partition, String value) {
    return new ProducerRecord<>(topic, partition, null, value.getBytes(StandardCharsets.UTF_8));
  }

  static void commitAbort(String bootstrap, String topic, String transactionalId) {
    try (KafkaProducer<byte[], byte[]> p = producer(bootstrap, transactionalId)) {
      p.beginTransaction();
      for (int i = 0; i < 10; i++) p.send(record(topic, null, "c" + i));
      p.commitTransaction();
      p.beginTransaction();
      for (int i = 0; i < 10; i++) p.send(record(topic, null, "a" + i));
      p.flush();
      p.abortTransaction();
      p.beginTransaction();
      p.send(record(topic, null, "last"));
      p.commitTransaction();
    }
    System.out.println("done");
  }

  /** Every value a consumer of {@code isolation} reads, up to the end offsets it sees. */
  static void read(String bootstrap, String topic, int partitions, String isolation) {
    try (KafkaConsumer<byte[], byte[]> c = consumer(bootstrap, "reader-" + UUID.randomUUID(), isolation)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int i = 0; i < partitions; i++) tps.add(new TopicPartition(topic, i));
      c.assign(tps);
      c.seekToBeginning(tps);
      // For read_committed the end offsets are the last stable offsets.
      Map<TopicPartition, Long> end = c.endOffsets(tps, TIMEOUT);
      long deadline = System.currentTimeMillis() + TIMEOUT.toMillis();
      while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        if (System.currentTimeMillis() > deadline) throw new IllegalStateException("end not reached");
        for (ConsumerRecord<byte[], byte[]> r : c.poll(POLL)) {
          System.out.println(new String(r.value(), StandardCharsets.UTF_8));
        }
      }
    }
    System.out.println("END");
  }

  static void copy(String bootstrap, String source, String sink, String group, String transactionalId,
                   int total, int dieAt) throws InterruptedException {
    KafkaConsumer<byte[], byte[]> c = consumer(bootstrap, group, "read_committed");
    KafkaProducer<byte[], byte[]> p = producer(bootstrap, transactionalId);
    c.subscribe(List.of(source));
    long copied = 0;
    long deadline = System.currentTimeMillis() + 120_000;
    while (System.currentTimeMillis() < deadline) {
      ConsumerRecords<byte[], byte[]> records = c.poll(POLL);
      if (!records.isEmpty()) {
        p.beginTransaction();
        for (ConsumerRecord<byte[], byte[]> r : records) {
          p.send(record(sink, r.partition(), "copy-" + new String(r.value(), StandardCharsets.UTF_8)));
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (TopicPartition tp : records.partitions()) {
          List<ConsumerRecord<byte[], byte[]>> part = records.records(tp);
          offsets.put(tp, new OffsetAndMetadata(part.get(part.size() - 1).offset() + 1));
        }
        p.sendOffsetsToTransaction(offsets, c.groupMetadata());
        if (dieAt >= 0 && copied >= dieAt) {
          p.flush();  // the copies are in the log; the transaction stays open
          System.out.println("open " + records.count());
          System.out.flush();
          Thread.sleep(Long.MAX_VALUE);
        }
        p.commitTransaction();
        copied += records.count();
        System.out.println("copied " + copied);
      }
      Set<TopicPartition> assigned = c.assignment();
      if (!assigned.isEmpty()) {
        long done = 0;
        for (OffsetAndMetadata o : c.committed(new HashSet<>(assigned), TIMEOUT).values()) {
          if (o != null) done += o.offset();
        }
        if (assigned.size() == c.partitionsFor(source).size() && done >= total) break;
      }
    }
    p.close();
    c.close();
    System.out.println("finished " + copied);
  }

  static void fence(String bootstrap, String topic, String transactionalId) {
    KafkaProducer<byte[], byte[]> zombie = producer(bootstrap, transactionalId);
    zombie.beginTransaction();
    zombie.send(record(topic, 0, "zombie-1"));
    zombie.flush();
    try (KafkaProducer<byte[], byte[]> live = producer(bootstrap, transactionalId)) {
      live.beginTransaction();
      live.send(record(topic, 0, "live"));
      live.commitTransaction();
    }
    try {
      zombie.commitTransaction();
      System.out.println("zombie committed");
    } catch (ProducerFencedException e) {
      System.out.println("fenced " + e.getClass().getSimpleName());
    } finally {
      zombie.close(Duration.ZERO);
    }
  }
}
