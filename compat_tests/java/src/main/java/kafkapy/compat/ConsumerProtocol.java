package kafkapy.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A KIP-848 consumer group of the Java client ({@code group.protocol=consumer}).
 *
 * <p>Usage: {@code ConsumerProtocol <bootstrap> <topic> <group> <members> <records>}.
 * Runs {@code members} consumers of one group, polled in turn from this thread (each
 * heartbeats from its own background thread), until every member owns partitions and
 * has read them to the end, the members' partitions cover the topic, and
 * {@code records} distinct values were read.
 * Then each member commits what it read and leaves. Prints one line
 * {@code MEMBER <i> <partitions>} per member, {@code READ <count>}, and {@code END};
 * exits 1 if the group did not get there within two minutes.
 */
public final class ConsumerProtocol {
    private ConsumerProtocol() {
    }

    public static void main(String[] args) {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        int members = Integer.parseInt(args[3]);
        int expected = Integer.parseInt(args[4]);
        List<KafkaConsumer<String, String>> consumers = new ArrayList<>();
        for (int i = 0; i < members; i++) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, "member-" + i);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            KafkaConsumer<String, String> c = new KafkaConsumer<>(p);
            c.subscribe(List.of(topic));
            consumers.add(c);
        }
        int partitions = consumers.get(0).partitionsFor(topic).size();
        Set<String> values = new TreeSet<>();
        long deadline = System.currentTimeMillis() + 120_000;
        boolean done = false;
        while (!done && System.currentTimeMillis() < deadline) {
            int covered = 0;
            boolean everyoneOwns = true;  // ... and has read its partitions to the end
            for (KafkaConsumer<String, String> c : consumers) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(50))) {
                    values.add(r.value());
                }
                covered += c.assignment().size();
                everyoneOwns &= !c.assignment().isEmpty();
                for (TopicPartition tp : c.assignment()) {
                    OptionalLong lag = c.currentLag(tp);
                    everyoneOwns &= lag.isPresent() && lag.getAsLong() == 0;
                }
            }
            done = everyoneOwns && covered == partitions && values.size() >= expected;
        }
        for (int i = 0; i < members; i++) {
            KafkaConsumer<String, String> c = consumers.get(i);
            Set<Integer> owned = new TreeSet<>();
            for (TopicPartition tp : c.assignment()) {
                owned.add(tp.partition());
            }
            if (done) {
                c.commitSync();
            }
            System.out.println("MEMBER " + i + " " + owned);
        }
        System.out.println("READ " + values.size());
        for (KafkaConsumer<String, String> c : consumers) {
            c.close();
        }
        System.out.println("END");
        System.exit(done ? 0 : 1);
    }
}
