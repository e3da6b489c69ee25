"""What a controller operation returns: records to append and the answer to give.

Every operation of the controller is a pure function of the current image and the
request. It returns a :class:`ControllerResult`: the records that make the change (an
empty list when there is nothing to write, as for validate_only or a request that
failed) and the per-item answers carrying Kafka's error codes. The caller appends the
records and answers only after they are committed, so an answer never claims a change
the log does not hold.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

from kafkapy.wire.error_codes import ErrorCode

T = TypeVar("T")


class ApiError(NamedTuple):
    """An error code and the message Kafka would send with it."""

    code: ErrorCode
    message: str | None = None

    @classmethod
    def of(cls, code: ErrorCode, message: str | None = None) -> ApiError:
        return cls(code, message)


NO_ERROR = ApiError(ErrorCode.NONE)


class ControllerResult(NamedTuple, Generic[T]):
    """Records to append atomically (one batch), and the response once they commit."""

    records: list
    response: T = None  # type: ignore[assignment]
