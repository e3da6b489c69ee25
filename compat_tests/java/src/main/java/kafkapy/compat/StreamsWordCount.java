package kafkapy.compat;

import java.time.Duration;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * A Kafka Streams word count: lines in, a count per word out, through a repartition
 * topic and a changelogged store, as Kafka's own WordCountDemo does.
 *
 * <p>Usage: {@code StreamsWordCount <bootstrap> <input> <output> <application-id>
 * <processing.guarantee> <state-dir> <words>}. Runs until the store has counted
 * {@code words} words in all (then closes cleanly) or two minutes pass (exit 1).
 * Prints {@code STATE <state>} on each state change and {@code COUNTED <n>} at the end.
 * {@link #streamsGroup} is the matrix's streams_group scenario: the same topology with
 * {@code group.protocol=streams}.
 */
public final class StreamsWordCount {
    private static final String STORE = "counts";

    private StreamsWordCount() {
    }

    public static void main(String[] args) throws InterruptedException {
        Properties p = properties(args[0], args[3], args[4], args[5]);
        // Streams leaves no group on close: the next instance waits for the old member's
        // session to expire (45 s by default); the broker's minimum keeps that short.
        p.put("consumer.session.timeout.ms", 6000);
        long expected = Long.parseLong(args[6]);
        try {
            long counted = count(p, args[1], args[2], expected, line -> System.out.println(line));
            System.out.println("COUNTED " + counted);
            System.exit(counted == expected ? 0 : 1);
        } catch (StreamsFailed e) {
            System.out.println("COUNTED " + e.counted);
            e.getCause().printStackTrace();
            System.exit(1);
        }
    }

    static Properties properties(String bootstrap, String applicationId, String guarantee, String stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put("consumer.auto.offset.reset", "earliest");
        return p;
    }

    /** The topology died: {@code counted} words were counted before. */
    static final class StreamsFailed extends Exception {
        final long counted;

        StreamsFailed(long counted, Throwable cause) {
            super(cause);
            this.counted = counted;
        }
    }

    /**
     * Runs the word count until the store has counted {@code expected} words in all or two
     * minutes pass, then closes it cleanly; returns how many words it counted.
     */
    static long count(Properties p, String input, String output, long expected, Consumer<String> log)
            throws InterruptedException, StreamsFailed {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
            .filter((key, word) -> !word.isEmpty())
            .groupBy((key, word) -> word, Grouped.with(Serdes.String(), Serdes.String()))
            .count(Materialized.<String, Long>as(Stores.inMemoryKeyValueStore(STORE))
                .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.Long()));

        AtomicReference<Throwable> failure = new AtomicReference<>();
        long counted = 0;
        try (KafkaStreams streams = new KafkaStreams(builder.build(), p)) {
            streams.setStateListener((now, before) -> log.accept("STATE " + now));
            streams.setUncaughtExceptionHandler(e -> {
                failure.set(e);
                return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
                    .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
            });
            streams.start();
            long deadline = System.currentTimeMillis() + 120_000;
            while (System.currentTimeMillis() < deadline && failure.get() == null) {
                Thread.sleep(100);
                if (streams.state() != KafkaStreams.State.RUNNING) {
                    continue;
                }
                try {
                    ReadOnlyKeyValueStore<String, Long> store = streams.store(
                        StoreQueryParameters.fromNameAndType(STORE, QueryableStoreTypes.keyValueStore()));
                    counted = 0;
                    try (KeyValueIterator<String, Long> all = store.all()) {
                        while (all.hasNext()) {
                            KeyValue<String, Long> kv = all.next();
                            counted += kv.value;
                        }
                    }
                } catch (org.apache.kafka.streams.errors.InvalidStateStoreException e) {
                    continue;  // migrating or restoring: ask again
                }
                if (counted >= expected) {
                    break;
                }
            }
            // The last counts reach the output topic with the next commit.
            Thread.sleep(500);
            streams.close(Duration.ofSeconds(30));
        }
        if (failure.get() != null) {
            throw new StreamsFailed(counted, failure.get());
        }
        return counted;
    }

    /** Every record of partition 0 of {@code topic} up to its last stable offset, read committed. */
    static List<ConsumerRecord<byte[], byte[]>> committed(Main.Ctx ctx, String topic) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<byte[], byte[]> c = Main.consumer(ctx, null,
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long end = c.endOffsets(List.of(tp)).get(tp);
            long deadline = System.nanoTime() + Main.TIMEOUT.toNanos();
            while (c.position(tp) < end && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    static final List<String> LINES = List.of("the quick brown fox", "jumps over the lazy dog", "the dog barks at the fox");

    /**
     * The matrix's streams_group scenario (compat_tests/scenarios.py): the exactly-once word
     * count with the streams rebalance protocol (KIP-1071), its output read committed.
     */
    static String streamsGroup(Main.Ctx ctx) throws Exception {
        String input = Main.createTopic(ctx);
        String output = Main.createTopic(ctx);
        List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        Map<String, Long> expected = new TreeMap<>();
        for (String line : LINES) {
            records.add(Main.record(input, null, line));
            for (String word : line.split(" ")) expected.merge(word, 1L, Long::sum);
        }
        Main.produce(ctx, records, Map.of());
        long words = expected.values().stream().mapToLong(Long::longValue).sum();
        Path state = Files.createTempDirectory("compat-streams-");
        Properties p = properties(ctx.bootstrap(), ctx.name("app"), StreamsConfig.EXACTLY_ONCE_V2, state.toString());
        p.put("group.protocol", "streams");
        p.putAll(ctx.clientSecurity());
        long counted;
        try {
            counted = count(p, input, output, words, line -> { });
        } catch (StreamsFailed e) {
            throw new Main.Failed("the topology failed after counting " + e.counted + " words: " + e.getCause());
        }
        Main.eq(counted, words, "words counted in the store");
        Map<String, Long> last = new TreeMap<>();
        Main.eventually(() -> {
            for (ConsumerRecord<byte[], byte[]> r : committed(ctx, output)) {
                last.put(Main.text(r.key()), ByteBuffer.wrap(r.value()).getLong());
            }
            Main.eq(last, expected, "last count of each word in the output topic");
        });
        return words + " words, " + expected.size() + " counts, group.protocol=streams";
    }
}
