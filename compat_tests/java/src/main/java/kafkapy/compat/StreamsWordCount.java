package kafkapy.compat;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;

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
 */
public final class StreamsWordCount {
    private static final String STORE = "counts";

    private StreamsWordCount() {
    }

    public static void main(String[] args) throws InterruptedException {
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, args[3]);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[4]);
        p.put(StreamsConfig.STATE_DIR_CONFIG, args[5]);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put("consumer.auto.offset.reset", "earliest");
        // Streams leaves no group on close: the next instance waits for the old member's
        // session to expire (45 s by default); the broker's minimum keeps that short.
        p.put("consumer.session.timeout.ms", 6000);
        long expected = Long.parseLong(args[6]);

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(args[1], Consumed.with(Serdes.String(), Serdes.String()))
            .flatMapValues(line -> Arrays.asList(line.toLowerCase(Locale.ROOT).split("\\W+")))
            .filter((key, word) -> !word.isEmpty())
            .groupBy((key, word) -> word, Grouped.with(Serdes.String(), Serdes.String()))
            .count(Materialized.<String, Long>as(Stores.inMemoryKeyValueStore(STORE))
                .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
            .toStream()
            .to(args[2], Produced.with(Serdes.String(), Serdes.Long()));

        AtomicReference<Throwable> failure = new AtomicReference<>();
        try (KafkaStreams streams = new KafkaStreams(builder.build(), p)) {
            streams.setStateListener((now, before) -> System.out.println("STATE " + now));
            streams.setUncaughtExceptionHandler(e -> {
                failure.set(e);
                return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler
                    .StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
            });
            streams.start();
            long deadline = System.currentTimeMillis() + 120_000;
            long counted = 0;
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
            System.out.println("COUNTED " + counted);
            if (failure.get() != null) {
                failure.get().printStackTrace();
                System.exit(1);
            }
            System.exit(counted == expected ? 0 : 1);
        }
    }
}
