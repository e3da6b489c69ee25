#!/usr/bin/env bash
# A virtualenv of its own for Quix Streams, used by tests/frameworks/test_quixstreams.py.
#
# Every quixstreams 3.x release pins confluent-kafka below 2.13 (3.28.1: >=2.8.2,<2.13)
# while the project's test extras use confluent-kafka's newer asyncio clients
# (confluent_kafka.aio, 2.13 and later); installing it into .venv would downgrade the
# client every other test uses. So the Quix app runs from this venv, and the test (in
# .venv) starts it as a process and checks what it wrote through the broker.
#
# Usage: bash tests/frameworks/install_quixstreams.sh [python]   (idempotent)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${1:-python3}"
VENV=compat_tests/.deps/quixstreams-venv
QUIXSTREAMS=quixstreams==3.28.1
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip show quixstreams 2>/dev/null | grep -qx "Version: ${QUIXSTREAMS#*==}"; then
    echo "quixstreams: $QUIXSTREAMS already in $VENV"
    exit 0
fi
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "$QUIXSTREAMS"
echo "quixstreams: $QUIXSTREAMS installed in $VENV"
