"""``python -m kafkapy.testing.probe [host:port]``: is a broker answering?

Sends one ApiVersions request (the first thing every Kafka client sends) and exits 0
when the answer carries no error, 1 otherwise — the container healthcheck. Works
against any Kafka broker.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: ApiVersions v3 is the first flexible version; every Kafka 2.4+ broker serves it.
_PROBE_VERSION = 3


def probe(address: str, *, timeout_s: float = 5.0) -> str | None:
    """None when the broker at ``address`` answers ApiVersions cleanly, else why not."""
    from kafkapy.testing.client import KafkaConnection
    from kafkapy.wire.error_codes import ErrorCode
    from kafkapy.wire.messages.api_versions import ApiVersionsRequest

    try:
        with KafkaConnection(address, timeout_s=timeout_s, client_id="kafkapy-probe") as conn:
            answer = conn.request(ApiVersionsRequest(client_software_name="kafkapy-probe",
                                                     client_software_version="1"), _PROBE_VERSION)
    except (OSError, ValueError) as exc:
        return f"{address}: {exc}"
    if answer.error_code:
        return f"{address}: ApiVersions answered {ErrorCode(answer.error_code).name}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    address = args[0] if args else "127.0.0.1:9092"
    problem = probe(address)
    if problem is not None:
        print(f"probe failed: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
