"""The handler table: which API keys and versions this broker implements.

Each handler module registers its function with ``@handles(ApiKey.X, versions=(lo, hi))``.
ApiVersions is answered from this table and the dispatcher checks requests against
it, so what is advertised cannot drift from what is implemented (kfake's ``regKey``).

A handler is ``handle_x(ctx: RequestContext, request) -> response``; it is ``async``
only when it waits (acks=all produce, long-poll fetch, controller round trips).
Per-partition problems are error codes in the response; raising
:class:`~kafkapy.broker.errors.CloseConnection` (or any exception) closes the
connection. ``None`` means no response is sent (acks=0 produce).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Handler:
    """One registered API: its key, the version range served and the function."""

    api_key: int
    min_version: int
    max_version: int
    fn: Callable[..., Any]
    is_async: bool
    #: The minimum ApiVersions reports; below ``min_version`` only where Kafka 4.x
    #: does the same for old clients' feature detection (Produce: KAFKA-18659).
    advertised_min: int


HANDLERS: dict[int, Handler] = {}


def handles(
    api_key: int, *, versions: tuple[int, int], advertised_min: int | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the handler of ``api_key`` for ``versions``.

    ``advertised_min`` lowers only the minimum ApiVersions reports; requests below
    ``versions[0]`` still close the connection.

    Raises:
        ValueError: if the key already has a handler or the range is empty.
    """
    lo, hi = versions
    if lo > hi:
        raise ValueError(f"empty version range {versions} for API key {api_key}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if int(api_key) in HANDLERS:
            raise ValueError(f"API key {api_key} already has a handler: {HANDLERS[int(api_key)].fn}")
        shown = lo if advertised_min is None else min(lo, advertised_min)
        HANDLERS[int(api_key)] = Handler(int(api_key), lo, hi, fn, inspect.iscoroutinefunction(fn), shown)
        return fn

    return register


def load_handlers() -> dict[int, Handler]:
    """Import every handler module so that the table is complete, and return it."""
    import kafkapy.broker.handlers  # noqa: F401  (registers on import)

    return HANDLERS
