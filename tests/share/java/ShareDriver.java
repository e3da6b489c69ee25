// A Kafka 4.4 KafkaShareConsumer scripted for tests/share/test_share_java.py; run as a
// single-file source program: java -cp "<kafka 4.4 libs>/*" ShareDriver.java MODE ...
//
//   consume BOOTSTRAP GROUP TOPIC COUNT       implicit acknowledgement: print COUNT records
//   release-reject BOOTSTRAP GROUP TOPIC      explicit: of the first three records release the
//                                             first, reject the second, accept the third; print
//                                             what comes back
//   record-limit BOOTSTRAP GROUP TOPIC N      two explicit members with share.acquire.mode=
//                                             record_limit and max.poll.records=N: the first
//                                             polls and holds what it got ("a ..." lines), then
//                                             the second polls ("b ..." lines); both accept
//   renew BOOTSTRAP GROUP TOPIC MS            explicit: hold the first record for MS, renewing
//                                             its lock (KIP-1222) every MS/4 (the client hands a
//                                             renewed record back on a later poll), then accept it
//
// Each record is printed as "offset delivery-count value"; the last line is "done".
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;

public class ShareDriver {
    static KafkaShareConsumer<String, String> consumer(String bootstrap, String group, boolean explicit) {
        return consumer(bootstrap, group, explicit, new Properties());
    }

    static KafkaShareConsumer<String, String> consumer(String bootstrap, String group, boolean explicit,
                                                       Properties p) {
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("share.acknowledgement.mode", explicit ? "explicit" : "implicit");
        return new KafkaShareConsumer<>(p);
    }

    static String line(ConsumerRecord<String, String> r) {
        return r.offset() + " " + r.deliveryCount().map(String::valueOf).orElse("-") + " " + r.value();
    }

    static List<ConsumerRecord<String, String>> pollUntil(KafkaShareConsumer<String, String> c, int want, long ms) {
        List<ConsumerRecord<String, String>> got = new ArrayList<>();
        long deadline = System.currentTimeMillis() + ms;
        while (got.size() < want && System.currentTimeMillis() < deadline) {
            for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                got.add(r);
            }
        }
        return got;
    }

    public static void main(String[] args) {
        String mode = args[0], bootstrap = args[1], group = args[2], topic = args[3];
        if (mode.equals("consume")) {
            int count = Integer.parseInt(args[4]);
            try (KafkaShareConsumer<String, String> c = consumer(bootstrap, group, false)) {
                c.subscribe(List.of(topic));
                System.out.println("subscribed");
                System.out.flush();
                for (ConsumerRecord<String, String> r : pollUntil(c, count, 60_000)) {
                    System.out.println(line(r));
                }
                c.commitSync();
            }
        } else if (mode.equals("record-limit")) {
            Properties p = new Properties();
            p.put("share.acquire.mode", "record_limit");
            p.put("max.poll.records", args[4]);
            try (KafkaShareConsumer<String, String> a = consumer(bootstrap, group, true, p);
                 KafkaShareConsumer<String, String> b = consumer(bootstrap, group, true, (Properties) p.clone())) {
                a.subscribe(List.of(topic));
                System.out.println("subscribed");
                List<ConsumerRecord<String, String>> held = pollUntil(a, 1, 60_000);
                for (ConsumerRecord<String, String> r : held) {
                    System.out.println("a " + line(r));
                }
                b.subscribe(List.of(topic));
                for (ConsumerRecord<String, String> r : pollUntil(b, 1, 20_000)) {
                    System.out.println("b " + line(r));
                    b.acknowledge(r, AcknowledgeType.ACCEPT);
                }
                b.commitSync();
                for (ConsumerRecord<String, String> r : held) {
                    a.acknowledge(r, AcknowledgeType.ACCEPT);
                }
                a.commitSync();
            }
        } else if (mode.equals("renew")) {
            long holdMs = Long.parseLong(args[4]);
            try (KafkaShareConsumer<String, String> c = consumer(bootstrap, group, true)) {
                c.subscribe(List.of(topic));
                System.out.println("subscribed");
                System.out.flush();
                ConsumerRecord<String, String> r = pollUntil(c, 1, 60_000).get(0);
                System.out.println(line(r));
                System.out.flush();
                long end = System.currentTimeMillis() + holdMs;
                while (System.currentTimeMillis() < end) {
                    try {
                        Thread.sleep(holdMs / 4);
                    } catch (InterruptedException e) {
                        throw new RuntimeException(e);
                    }
                    c.acknowledge(r, AcknowledgeType.RENEW);
                    c.commitSync();
                    // A renewed record is handed back by a later poll, to be acknowledged again.
                    r = pollUntil(c, 1, 30_000).get(0);
                }
                c.acknowledge(r, AcknowledgeType.ACCEPT);
                c.commitSync();
            }
        } else {
            try (KafkaShareConsumer<String, String> c = consumer(bootstrap, group, true)) {
                c.subscribe(List.of(topic));
                System.out.println("subscribed");
                System.out.flush();
                List<ConsumerRecord<String, String>> first = pollUntil(c, 3, 60_000);
                for (ConsumerRecord<String, String> r : first) {
                    System.out.println(line(r));
                }
                c.acknowledge(first.get(0), AcknowledgeType.RELEASE);
                c.acknowledge(first.get(1), AcknowledgeType.REJECT);
                c.acknowledge(first.get(2), AcknowledgeType.ACCEPT);
                c.commitSync();
                for (ConsumerRecord<String, String> r : pollUntil(c, 1, 30_000)) {
                    System.out.println(line(r));
                    c.acknowledge(r, AcknowledgeType.ACCEPT);
                }
                c.commitSync();
            }
        }
        System.out.println("done");
    }
}
