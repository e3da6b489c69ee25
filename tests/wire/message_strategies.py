"""Hypothesis strategies for every generated message, built from the same schemas.

The schema model of tools/gen_messages.py says which fields a version has and their
types; fields a version lacks are left at their constructor defaults, which is
what decoding that version yields.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from hypothesis import strategies as st

from tools import schema_jars
from tools.gen_messages import Field, Schema, Struct, collect, in_range

if schema_jars.missing():
    pytest.skip(f"Kafka {schema_jars.KAFKA_VERSION}'s schema jars are missing (python -m tools.schema_jars)",
                allow_module_level=True)

#: Every schema, by message name, and the module its class lives in.
SCHEMAS: dict[str, tuple[str, Schema]] = {
    sc.name: (mod[:-3].replace("/", "."), sc) for mod, scs in collect().items() for sc in scs
}

INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1), "int64": (-(2**63), 2**63 - 1),
}

#: A hook to narrow a scalar field's values: (field, version) -> strategy or None.
Narrow = Callable[[Field, int], "st.SearchStrategy | None"]


def message_class(name: str) -> type:
    module, _ = SCHEMAS[name]
    return getattr(importlib.import_module(f"kafkapy.wire.messages.{module}"), name)


def message_strategy(name: str, version: int, narrow: Narrow | None = None) -> st.SearchStrategy:
    """Instances of message ``name`` holding arbitrary values for ``version``."""
    _, sc = SCHEMAS[name]
    root = message_class(name)
    return _struct(root, root, sc.root, version, narrow)


def _struct(root: type, cls: type, s: Struct, v: int, narrow: Narrow | None) -> st.SearchStrategy:
    kwargs = {f.attr: _field(root, f, v, narrow) for f in s.fields if in_range(v, f.versions)}
    return st.builds(cls, **kwargs)


def _field(root: type, f: Field, v: int, narrow: Narrow | None) -> st.SearchStrategy:
    if f.is_array:
        elem = _elem(root, f, v, narrow)
        s = st.lists(elem, max_size=3)
    else:
        s = _elem(root, f, v, narrow)
    if f.nullable_at(v):
        s = st.none() | s
    return s


def _elem(root: type, f: Field, v: int, narrow: Narrow | None) -> st.SearchStrategy:
    if f.struct is not None:
        return st.deferred(lambda: _struct(root, getattr(root, f.struct.name), f.struct, v, narrow))
    t = f.elem
    if narrow is not None:
        s = narrow(f, v)
        if s is not None:
            return s
    if t in INT_RANGES:
        lo, hi = INT_RANGES[t]
        return st.integers(lo, hi)
    if t == "bool":
        return st.booleans()
    if t == "float64":
        return st.floats(allow_nan=False)
    if t == "uuid":
        return st.binary(min_size=16, max_size=16)
    if t == "string":
        return st.text(max_size=12)
    if t == "bytes":
        return st.binary(max_size=24)
    if t == "records":
        return st.binary(max_size=64)
    raise AssertionError(f"no strategy for {t}")


def all_versions(kinds: tuple[str, ...] = ("request", "response")) -> list[tuple[str, int]]:
    """(message name, version) for every version of every schema of these kinds."""
    out = []
    for name, (_, sc) in sorted(SCHEMAS.items()):
        if sc.kind in kinds:
            out.extend((name, v) for v in range(sc.valid[0], sc.valid[1] + 1))
    return out


def filled_message(name: str, version: int) -> object:
    """A message of ``version`` in which every array has one element and nothing is null."""
    _, sc = SCHEMAS[name]
    root = message_class(name)
    return _filled(root, root, sc.root, version)


_FILLED = {"bool": True, "float64": 1.5, "uuid": b"\x01" * 16, "string": "x", "bytes": b"yy",
           "records": b"rrr"}


def _filled(root: type, cls: type, s: Struct, v: int) -> object:
    kwargs = {}
    for f in s.fields:
        if not in_range(v, f.versions):
            continue
        if f.struct is not None:
            value = _filled(root, getattr(root, f.struct.name), f.struct, v)
        else:
            value = _FILLED.get(f.elem, 1)
        kwargs[f.attr] = [value] if f.is_array else value
    return cls(**kwargs)
