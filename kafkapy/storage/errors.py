"""The one exception type of the storage layer.

Expected outcomes of an append or a read (a duplicate batch, an out-of-order sequence, an
offset out of range) are returned as error codes in the result objects. Exceptions are
for what should not happen: a disk error, a corrupt file found outside recovery, a call
on a log that is offline or closed.
"""

from __future__ import annotations

from kafkapy.wire.error_codes import ErrorCode


class StorageError(Exception):
    """A failure of the log store, carrying the Kafka error a response should report.

    Attributes:
        error_code: KAFKA_STORAGE_ERROR for I/O failures (the partition goes offline),
            CORRUPT_MESSAGE for unreadable data, OFFSET_OUT_OF_RANGE and friends for
            requests a log cannot serve.
    """

    def __init__(self, message: str, *, error_code: ErrorCode = ErrorCode.KAFKA_STORAGE_ERROR) -> None:
        self.error_code = error_code
        super().__init__(message)
