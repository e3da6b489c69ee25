# Two entry points a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test compat compat-cluster compat-secure bench install gen

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Set up and start a broker on localhost:9092 (data in ./kafkapy-data).
run: install
	$(VENV)/bin/kafkapy serve

# Set up and run the whole test suite.
test: install
	$(PY) -m pytest -q

# Install every client family (apt, npm, Maven, Go) and print the compatibility
# matrix against a kafkapy broker; see compat_tests/README.md.
compat: install
	bash compat_tests/install.sh $(PY)
	$(PY) -m compat_tests.matrix --start-kafkapy --require-installed --client-timeout 150

# The matrix on a 3-node kafkapy cluster (replication factor 3, the failover scenario
# killing its partition's leader) for the Java client and librdkafka: about a minute.
# Every family: drop --clients (about 4 minutes).
compat-cluster: install
	bash compat_tests/install.sh $(PY)
	$(PY) -m compat_tests.matrix --start-kafkapy-cluster --clients java,confluent-kafka --require-installed --client-timeout 240

# The core scenarios and the negative ones (wrong password, missing ACLs) over SASL_SSL
# with SCRAM-SHA-512 and over mTLS, StandardAuthorizer with per-scenario ACLs, on kafkapy
# and on Apache Kafka 4.4.0 with the same settings, side by side (compat_tests/security.py).
compat-secure: install
	bash compat_tests/install.sh $(PY)
	for mode in sasl_ssl_scram512 mtls; do $(PY) -m compat_tests.matrix --start-kafkapy --security $$mode --scenarios core --compare-reference --require-installed --client-timeout 240 || exit 1; done

# Regenerate kafkapy/wire/messages from the JSON message schemas.
gen: install
	$(PY) -m tools.gen_messages

# Print the figures of every benchmark.
bench: install
	$(PY) -m pip install -q -e '.[test,bench]'
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done
