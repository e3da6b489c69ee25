"""Differential tests against kio 0.6.5, an independent implementation of the same
schemas (native readers, Python writers), for every API key and version both
support.

For hypothesis-generated messages: our encoding must decode with kio to the same
values, kio must re-encode what it read to exactly our bytes, and those bytes must
decode with ours to the original message. kio renames some fields and converts
some types (timeouts to timedelta, timestamps to datetime, error codes to an enum,
uuids to uuid.UUID, arrays to tuples); fields are matched by position (both follow
the schema's field order) and values normalised before comparison.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import importlib
import io
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkapy.wire.message import Message
from kafkapy.wire.primitives import ZERO_UUID
from tests.wire.message_strategies import (
    SCHEMAS,
    Field,
    all_versions,
    in_range,
    message_strategy,
)

kio_serial = pytest.importorskip("kio.serial")
from kio.schema.errors import ErrorCode as KioErrorCode

ERROR_CODES = sorted(int(e) for e in KioErrorCode)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
MS = datetime.timedelta(milliseconds=1)

KIO_MODULE_KIND = {"request": "request", "response": "response", "data": None}


def kio_class(name: str, version: int) -> type | None:
    module, sc = SCHEMAS[name]
    if sc.kind in ("request", "response"):
        path = f"kio.schema.{module}.v{version}.{sc.kind}"
    elif sc.kind == "data":
        path = f"kio.schema.{module}.v{version}.data"
    else:
        return None
    try:
        mod = importlib.import_module(path)
    except ImportError:
        return None
    return getattr(mod, name, None)


CASES = [(n, v) for n, v in all_versions(("request", "response", "data")) if kio_class(n, v) is not None]


def narrow(f: Field, version: int) -> st.SearchStrategy | None:
    """kio converts values on read: keep them inside what it can represent."""
    if f.elem == "int16" and f.attr.endswith("error_code"):
        return st.sampled_from(ERROR_CODES)
    if f.elem == "int64" and f.attr.endswith(("time_ms", "timestamp_ms")):  # kio's timestamps refuse negatives
        return st.integers(0, 2**40)
    if f.elem == "int64":  # kio reads some int64 as datetime: stay within its years
        return st.integers(-1, 2**40)
    return None


def normalise_kio(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.timedelta):
        return value // MS
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // MS
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, (tuple, list)):
        return [normalise_kio(v) for v in value]
    if dataclasses.is_dataclass(value):
        return [normalise_kio(getattr(value, f.name)) for f in dataclasses.fields(value)]
    return value


def normalise_ours(msg: object, cls_schema, version: int) -> object:
    if isinstance(msg, list):
        return [normalise_ours(m, cls_schema, version) for m in msg]
    if isinstance(msg, Message):
        out = []
        for f in cls_schema.fields:
            if in_range(version, f.versions):
                v = getattr(msg, f.attr)
                out.append(normalise_ours(v, f.struct, version) if f.struct is not None else
                           [bytes(x) if isinstance(x, memoryview) else x for x in v] if isinstance(v, list) else
                           bytes(v) if isinstance(v, memoryview) else v)
        return out
    return msg


def same(ours: object, theirs: object) -> bool:
    """Equal, allowing kio's None for "no value" (-1 time, zero uuid)."""
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(same(a, b) for a, b in zip(ours, theirs))
    if theirs is None and ours in (-1, ZERO_UUID):
        return True
    return ours == theirs


@pytest.mark.parametrize("name,version", CASES, ids=[f"{n}-v{v}" for n, v in CASES])
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_kio_agrees(name: str, version: int, data: st.DataObject) -> None:
    msg = data.draw(message_strategy(name, version, narrow))
    ours = msg.to_bytes(version)
    kcls = kio_class(name, version)
    theirs, size = kio_serial.entity_reader(kcls)(ours, 0)
    assert size == len(ours)
    assert same(normalise_ours(msg, SCHEMAS[name][1].root, version), normalise_kio(theirs))
    out = io.BytesIO()
    kio_serial.entity_writer(kcls)(out, theirs)
    assert out.getvalue() == ours
    assert type(msg).from_bytes(out.getvalue(), version) == msg


def test_kio_covers_the_kraft_apis() -> None:
    names = {n for n, _ in CASES}
    for api in ("Vote", "BeginQuorumEpoch", "EndQuorumEpoch", "FetchSnapshot", "BrokerRegistration",
                "BrokerHeartbeat", "ConsumerGroupHeartbeat", "PushTelemetry"):
        assert {api + "Request", api + "Response"} <= names
    assert {"LeaderChangeMessage", "VotersRecord", "SnapshotHeaderRecord"} <= names
