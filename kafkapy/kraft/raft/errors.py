"""The two exception types of the Raft core.

Expected outcomes (not the leader, a fenced epoch, an unknown snapshot) are returned as
Kafka error codes, never raised. :class:`RaftError` is for the caller's misuse that has a
Kafka error code; :class:`RaftInvariantError` is a bug in the core or its driver (an
illegal state transition, a truncation below the high watermark) and is never turned
into an error code.
"""

from __future__ import annotations

from kafkapy.wire.error_codes import ErrorCode


class RaftError(Exception):
    """A request the quorum cannot serve; carries the Kafka error code to answer with."""

    def __init__(self, message: str, error_code: ErrorCode) -> None:
        super().__init__(message)
        self.error_code = error_code


class RaftInvariantError(AssertionError):
    """A broken Raft invariant: a bug, never mapped to an error code."""
