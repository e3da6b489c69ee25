// Prints Apache Kafka's broker and topic config definitions as JSON lines, for
// tools/gen_kafka_configs.py. Run against the reference jars (compat_tests/.deps):
//   java -cp 'compat_tests/.deps/kafka-4.4.0/libs/*:<dir of this class>' KafkaConfigDump
// One line per config: scope, name, type, default (as ConfigDef.convertToString shows
// it, null for none), importance, documentation, the validator's text, its range or
// allowed strings where it has them, internal, and the dynamic update mode
// (DynamicBrokerConfig.dynamicConfigUpdateModes; read-only for the others).
import java.lang.reflect.Field;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;

public class KafkaConfigDump {
    static String q(Object o) {
        if (o == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : o.toString().toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static Object field(Object o, String name) {
        for (Class<?> c = o.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f.get(o);
            } catch (NoSuchFieldException e) {
                // look in the superclass
            } catch (IllegalAccessException e) {
                return null;
            }
        }
        return null;
    }

    static String list(Object o) {
        if (!(o instanceof List)) return "null";
        StringBuilder b = new StringBuilder("[");
        for (Object x : (List<?>) o) {
            if (b.length() > 1) b.append(',');
            b.append(q(x));
        }
        return b.append(']').toString();
    }

    static void dump(String scope, Map<String, ConfigDef.ConfigKey> keys, Map<String, String> modes) {
        for (ConfigDef.ConfigKey k : keys.values()) {
            String def = k.hasDefault() ? ConfigDef.convertToString(k.defaultValue, k.type) : null;
            ConfigDef.Validator v = k.validator;
            String kind = v == null ? null : v.getClass().getSimpleName();
            Object min = null, max = null, allowed = null;
            if (v instanceof ConfigDef.Range) {
                min = field(v, "min");
                max = field(v, "max");
            } else if (v instanceof ConfigDef.ValidString) {
                allowed = field(v, "validStrings");
            } else if (v instanceof ConfigDef.ValidList) {
                Object inner = field(v, "validString");
                allowed = inner == null ? null : field(inner, "validStrings");
            } else if (v instanceof ConfigDef.CaseInsensitiveValidString) {
                allowed = field(v, "validStrings");
            }
            String mode = scope.equals("topic") ? "dynamic" : modes.getOrDefault(k.name, "read-only");
            System.out.println("{\"scope\":" + q(scope) + ",\"name\":" + q(k.name) + ",\"type\":" + q(k.type)
                + ",\"default\":" + q(def) + ",\"has_default\":" + k.hasDefault()
                + ",\"importance\":" + q(k.importance) + ",\"doc\":" + q(k.documentation)
                + ",\"validator\":" + q(v == null ? null : v.toString()) + ",\"validator_kind\":" + q(kind)
                + ",\"min\":" + (min == null ? "null" : q(min)) + ",\"max\":" + (max == null ? "null" : q(max))
                + ",\"allowed\":" + list(allowed instanceof java.util.Collection ? new java.util.ArrayList<>((java.util.Collection<?>) allowed) : allowed)
                + ",\"internal\":" + k.internalConfig + ",\"mode\":" + q(mode) + "}");
        }
    }

    // Kafka 4.4 moved DynamicBrokerConfig.dynamicConfigUpdateModes from the Scala object
    // kafka.server.DynamicBrokerConfig to org.apache.kafka.server.config.DynamicBrokerConfig;
    // looked up by reflection so the dump compiles against either release.
    @SuppressWarnings("unchecked")
    static Map<String, String> updateModes() throws ReflectiveOperationException {
        try {
            return (Map<String, String>) Class.forName("org.apache.kafka.server.config.DynamicBrokerConfig")
                .getMethod("dynamicConfigUpdateModes").invoke(null);
        } catch (ClassNotFoundException | NoSuchMethodException e) {
            Object scalaObject = Class.forName("kafka.server.DynamicBrokerConfig$").getField("MODULE$").get(null);
            return (Map<String, String>) scalaObject.getClass().getMethod("dynamicConfigUpdateModes").invoke(scalaObject);
        }
    }

    public static void main(String[] args) throws ReflectiveOperationException {
        Map<String, String> modes = updateModes();
        dump("broker", org.apache.kafka.server.config.AbstractKafkaConfig.CONFIG_DEF.configKeys(), modes);
        dump("topic", org.apache.kafka.storage.internals.log.LogConfig.configKeys(), modes);
    }
}
