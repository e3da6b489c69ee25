"""The base class of every generated message and struct, and where decode errors
are located.

Generated decoders carry no error bookkeeping: each line that reads a field ends in
a ``# @field`` comment, and each traced module sets ``_TRACE_FIELDS = True``. When a
decoder fails, :func:`decode_error` walks the traceback, reads those comments to
build the field path, and takes the byte offset from the innermost frame's ``pos``
(or from :class:`~kafkapy.wire.primitives.Malformed`). The success path costs
nothing; the failure path is rare and may be slow.
"""

from __future__ import annotations

import linecache
import re
import struct
from collections.abc import Callable
from typing import Any, ClassVar, Self, TypeVar

from kafkapy.wire.buffers import Writer
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.primitives import Malformed

T = TypeVar("T", bound="Message")

#: ``object.__new__``: generated decoders build instances without running __init__.
new = object.__new__

_FIELD_COMMENT = re.compile(r"#\s*@([\w.,]+)\s*$")


class Message:
    """A Kafka message or one of its structs, in one class for all versions.

    Subclasses are generated: ``__slots__`` are the snake_case field names, the
    constructor takes them as keywords with the schema defaults, and
    ``_decoders``/``_encoders`` map each version to straight-line functions.
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]  # mutable: compared by value

    _decoders: ClassVar[dict[int, Callable[[memoryview, int], tuple[Any, int]]]]
    _encoders: ClassVar[dict[int, Callable[[Any, Writer, bytearray], bytearray]]]

    @classmethod
    def decode(cls, buf: memoryview, pos: int, version: int) -> tuple[Self, int]:
        """Decode one instance at ``pos`` of ``buf``.

        Returns:
            The message and the position just after it.
        Raises:
            WireError: UNSUPPORTED_VERSION for a version the schema lacks; otherwise
                INVALID_REQUEST naming the field path and byte offset.
        """
        fn = cls._decoders.get(version)
        if fn is None:
            raise unsupported_version(cls.__qualname__, version)
        try:
            return fn(buf, pos)
        except Exception as exc:  # noqa: BLE001  # every failure of a decoder is bad input
            raise decode_error(exc, cls.__qualname__, version) from None

    @classmethod
    def from_bytes(cls, data: bytes | memoryview, version: int) -> Self:
        """Decode a buffer holding exactly one instance."""
        buf = data if isinstance(data, memoryview) else memoryview(data)
        msg, end = cls.decode(buf, 0, version)
        if end != len(buf):
            raise WireError(
                f"{len(buf) - end} bytes left after the message",
                api=cls.__qualname__, version=version, offset=end,
            )
        return msg

    def encode(self, version: int, out: Writer) -> None:
        """Append this message, as ``version``, to ``out`` (a :class:`Writer`)."""
        fn = self._encoders.get(version)
        if fn is None:
            raise unsupported_version(type(self).__qualname__, version)
        out.buf = fn(self, out, out.buf)

    def to_bytes(self, version: int) -> bytes:
        """The encoding as bytes (no FileRegion records)."""
        out = Writer()
        self.encode(version, out)
        return out.getvalue()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        args = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__)
        return f"{type(self).__qualname__}({args})"


def unsupported_version(api: str, version: int) -> WireError:
    return WireError(
        f"version {version} is not supported",
        error_code=ErrorCode.UNSUPPORTED_VERSION, api=api, version=version,
    )


def decode_error(exc: BaseException, api: str, version: int | None) -> WireError:
    """The WireError for a failed decode: what went wrong, field path, byte offset."""
    if isinstance(exc, WireError):
        return exc
    path: list[str] = []
    offset = exc.offset if isinstance(exc, Malformed) else None
    pos = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("_TRACE_FIELDS"):
            m = _FIELD_COMMENT.search(linecache.getline(frame.f_code.co_filename, tb.tb_lineno))
            if m:
                path.append(m.group(1))
            p = frame.f_locals.get("pos")
            if isinstance(p, int):
                pos = p
        tb = tb.tb_next
    if isinstance(exc, Malformed):
        message = str(exc)
    elif isinstance(exc, (struct.error, IndexError)):
        message = "truncated"
    elif isinstance(exc, UnicodeDecodeError):
        message = "invalid UTF-8 in string"
    else:
        message = f"malformed ({type(exc).__name__}: {exc})"
    return WireError(
        message,
        error_code=ErrorCode.INVALID_REQUEST,
        api=api,
        version=version,
        field=".".join(path) or None,
        offset=offset if offset is not None else pos,
    )
