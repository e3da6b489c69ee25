"""The container entrypoint: Kafka configuration from environment variables.

``python -m kafkapy.testing.container`` is what the Docker image runs. It reads the
configuration the way the apache/kafka image does (its ``docker/examples/README.md``,
"Using Environment Variables"): a variable ``KAFKA_<NAME>`` sets the property whose
name, with ``.`` written ``_``, ``_`` written ``__`` and ``-`` written ``___``, is
upper-cased into ``<NAME>`` — ``KAFKA_NODE_ID`` is ``node.id``,
``KAFKA_LISTENER_SECURITY_PROTOCOL_MAP`` is ``listener.security.protocol.map``,
``KAFKA_ABC__DEF`` is ``abc_def``, ``KAFKA_ABC___DEF`` is ``abc-def``. The variables
that image reserves for the JVM and log4j (``KAFKA_HEAP_OPTS``, ``KAFKA_OPTS``, ...)
are not properties. Environment values win over a properties file mounted at
``/mnt/shared/config/server.properties``.

``KAFKAPY_MEMORY=true`` keeps everything in memory; ``KAFKAPY_LOG_LEVEL`` sets the
log level. ``CLUSTER_ID`` formats an empty data directory for that cluster (``kafka-storage
format --cluster-id``: ``meta.properties`` with the cluster, node and directory ids),
which every node of a multi-node cluster needs so that they agree on the cluster id.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

#: Where the apache/kafka image reads a mounted properties file from.
MOUNTED_CONFIG = "/mnt/shared/config/server.properties"
_PREFIX = "KAFKA_"
#: Variables the apache/kafka image does not turn into properties (its
#: ``KafkaDockerWrapper`` ``ExcludeServerPropsEnv``).
RESERVED = frozenset({
    "KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME",
})


def property_name(variable: str) -> str | None:
    """The Kafka property a ``KAFKA_*`` variable sets, or None for other variables."""
    if not variable.startswith(_PREFIX) or variable in RESERVED or len(variable) == len(_PREFIX):
        return None
    # Every "_" is a ".", then runs of three are "-" and runs of two are "_".
    return variable[len(_PREFIX):].lower().replace("_", ".").replace("...", "-").replace("..", "_")


def environment_variable(name: str) -> str:
    """The ``KAFKA_*`` variable that sets property ``name`` (the inverse mapping)."""
    return _PREFIX + name.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def env_properties(environ: Mapping[str, str]) -> dict[str, str]:
    """The Kafka properties set by ``environ``'s ``KAFKA_*`` variables."""
    out = {}
    for variable, value in environ.items():
        name = property_name(variable)
        if name is not None:
            out[name] = value
    return out


def format_storage(log_dir: str, cluster_id: str, node_id: int) -> bool:
    """Format an unformatted ``log_dir`` as ``kafkapy storage format --ignore-formatted``
    does (``meta.properties`` and ``bootstrap.checkpoint``); returns False (and writes
    nothing) when it is formatted already."""
    from kafkapy.tools.formatter import META_PROPERTIES, Formatter

    if os.path.exists(os.path.join(log_dir, META_PROPERTIES)):
        return False
    Formatter(node_id=node_id, cluster_id=cluster_id, directories=[log_dir], metadata_log_dir=log_dir,
              ignore_formatted=True, out=lambda line: None).run()
    return True


def container_properties(environ: Mapping[str, str], config_file: str = MOUNTED_CONFIG) -> dict[str, str]:
    """The mounted properties file (if any) with the environment's properties over it."""
    from kafkapy.cli import serve_properties

    return {**serve_properties(config_file if os.path.exists(config_file) else None, ()),
            **env_properties(environ)}


def main() -> int:
    """Run a node configured from the environment (the image's entrypoint)."""
    from kafkapy.config import BrokerConfig
    from kafkapy.node import quickstart_properties, serve_forever

    properties = container_properties(os.environ)
    cluster_id = os.environ.get("CLUSTER_ID")
    if cluster_id:
        config = BrokerConfig.from_properties(quickstart_properties(properties))
        format_storage(config.data_dirs[0], cluster_id, config.node_id)
    memory = os.environ.get("KAFKAPY_MEMORY", "").lower() in ("1", "true", "yes")
    return serve_forever(properties, memory=memory, log_level=os.environ.get("KAFKAPY_LOG_LEVEL", "INFO"))


if __name__ == "__main__":
    sys.exit(main())
