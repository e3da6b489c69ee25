"""The one exception type of the wire layer.

Every decoding failure, whatever its cause (truncation, a bad length, a bad CRC, an
unknown version), raises :class:`WireError`. It says what was wrong and where, and
carries the Kafka error code a response should report, much as h11's protocol errors
carry a status hint.
"""

from __future__ import annotations

from kafkapy.wire.error_codes import ErrorCode


class WireError(Exception):
    """Bytes from the network that do not decode.

    Attributes:
        error_code: the Kafka error a response should carry (CORRUPT_MESSAGE,
            INVALID_REQUEST, UNSUPPORTED_VERSION, ...).
        api: the API name being decoded, or None when not known (framing, headers).
        version: the API version being decoded, or None.
        field: a dotted path of the field being decoded, or None.
        offset: the byte offset into the buffer where decoding failed, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: ErrorCode = ErrorCode.INVALID_REQUEST,
        api: str | None = None,
        version: int | None = None,
        field: str | None = None,
        offset: int | None = None,
    ) -> None:
        self.error_code = error_code
        self.api = api
        self.version = version
        self.field = field
        self.offset = offset
        where = []
        if api is not None:
            where.append(f"{api} v{version}" if version is not None else api)
        if field is not None:
            where.append(f"field {field}")
        if offset is not None:
            where.append(f"byte {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
