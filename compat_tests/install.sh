#!/usr/bin/env bash
# Installs every client family of the compatibility matrix, from the package
# registries only, idempotently (a second run only checks):
#   Debian: kcat, and the headers @confluentinc/kafka-javascript builds librdkafka against
#   PyPI:   confluent-kafka, kafka-python (+ python-snappy), aiokafka
#   npm:    kafkajs (+ codecs), @confluentinc/kafka-javascript (compat_tests/js)
#   Maven:  kafka-clients driver jars (compat_tests/java, 4.4.0 and 4.1.2), Apache Kafka reference broker jars
#   Go:     franz-go and sarama drivers (compat_tests/go -> compat_tests/.deps/bin)
# Usage: bash compat_tests/install.sh [PYTHON]   (default: .venv/bin/python, else python3)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PYTHON="${1:-}"
if [ -z "$PYTHON" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

step() { STEP_NAME="$1"; STEP_START=$(date +%s); echo "== $1"; }
done_step() { echo "   done in $(( $(date +%s) - STEP_START ))s"; }

step "Debian packages"
APT_PKGS=(kcat zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev pkg-config g++ make)
MISSING=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || MISSING+=("$p"); done
if [ ${#MISSING[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${MISSING[@]}" >/dev/null
fi
done_step

step "Python clients ($PYTHON)"
"$PYTHON" - <<'PY' || "$PYTHON" -m pip install -q "confluent-kafka>=2.6" "kafka-python==3.0.12" "aiokafka>=0.12" python-snappy
import importlib.util, sys
sys.exit(any(importlib.util.find_spec(m) is None for m in ("confluent_kafka", "kafka", "aiokafka", "snappy")))
PY
done_step

step "Node.js clients (compat_tests/js)"
JS="$HERE/js"
ADDON="$JS/node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node"
if [ ! -f "$ADDON" ] || [ ! -f "$JS/node_modules/kafkajs/package.json" ] || [ "$JS/package-lock.json" -nt "$JS/node_modules/.package-lock.json" ]; then
  # No prebuilt addon can be downloaded here: librdkafka is built from the package's
  # bundled source and linked against the Debian libraries installed above.
  (cd "$JS" && CKJS_LINKING=dynamic npm ci --no-audit --no-fund --loglevel=error)
fi
done_step

step "Java driver (compat_tests/java): kafka-clients 4.4.0 in target/, 4.1.2 (and Kafka Connect) in target-4.1/"
for BUILD in "target:" "target-4.1:-Dkafka.version=4.1.2"; do
  DIR="$HERE/java/${BUILD%%:*}"
  JAR="$DIR/compat-java.jar"
  if [ ! -f "$JAR" ] || [ -n "$(find "$HERE/java/src" "$HERE/java/pom.xml" -newer "$JAR" -print -quit)" ]; then
    # clean: lib/ must not keep the jars of another Kafka version
    mvn -q -B -f "$HERE/java/pom.xml" -Dbuild.dir="$DIR" ${BUILD#*:} clean package
  fi
done
done_step

step "Apache Kafka reference broker jars"
(cd "$ROOT" && "$PYTHON" -c "from compat_tests.brokers import KAFKA_VERSIONS, reference_libs
for v in KAFKA_VERSIONS: print('  ', reference_libs(v))")
done_step

step "Apache Kafka message schema jars (tools/gen_messages.py and its check)"
(cd "$ROOT" && "$PYTHON" -m tools.schema_jars)
done_step

step "Go drivers (compat_tests/go)"
mkdir -p "$HERE/.deps/bin"
(cd "$HERE/go" && go build -o "$HERE/.deps/bin/franz" ./cmd/franz && go build -o "$HERE/.deps/bin/sarama" ./cmd/sarama)
done_step

step "Kafka's LocalTieredStorage (kafka-storage test jar) for tests/tiered/test_reference.py"
[ -f "$HOME/.m2/repository/org/apache/kafka/kafka-storage/4.1.2/kafka-storage-4.1.2-test.jar" ] || \
  mvn -q -B dependency:get -Dartifact=org.apache.kafka:kafka-storage:4.1.2:jar:test -Dtransitive=false
done_step

step "Kafka Streams 4.4.0 with RocksDB (tests/streams_groups/test_streams_java.py)"
[ -f "$HOME/.m2/repository/org/apache/kafka/kafka-streams/4.4.0/kafka-streams-4.4.0.jar" ] || \
  mvn -q -B dependency:get -Dartifact=org.apache.kafka:kafka-streams:4.4.0
done_step

step "S3-compatible server for tests/tiered (moto_server)"
# moto's server mode, from PyPI: SeaweedFS built from the Go module proxy took over
# nine minutes here, past what a fresh CI machine can spend; MinIO is AGPL.
[ -x "$(dirname "$PYTHON")/moto_server" ] || "$PYTHON" -m pip install -q "moto[server]==5.2.5"
done_step

step "Quix Streams venv (tests/frameworks)"
bash "$ROOT/tests/frameworks/install_quixstreams.sh" "$PYTHON"
done_step
echo "compat install complete"
