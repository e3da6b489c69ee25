"""The broker layer's exceptions.

Per-partition and per-resource problems are error codes in responses, never
exceptions. What is raised is either :class:`CloseConnection` (the request cannot be
answered: Kafka closes the connection) or a :class:`BrokerError` carrying the code
one response-level error field reports.
"""

from __future__ import annotations

from kafkapy.wire.error_codes import ErrorCode


class BrokerError(Exception):
    """A request-level failure with the Kafka error code its response carries."""

    def __init__(self, error_code: ErrorCode, message: str | None = None) -> None:
        self.error_code = error_code
        super().__init__(message or error_code.message)


class CloseConnection(Exception):
    """Raised by the dispatcher or a handler: answer nothing and close the connection.

    The process edge translates it into the server's own ``CloseConnection`` (the
    broker does not import the server layer).
    """
