#!/bin/sh
# Container entrypoint: start kafkapy configured from KAFKA_* environment variables
# (python -m kafkapy.testing.container), or run the command given instead.
set -e
if [ "$#" -gt 0 ]; then
    exec "$@"
fi
exec python -m kafkapy.testing.container
