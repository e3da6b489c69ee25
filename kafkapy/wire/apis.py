"""The API registry: per API key, its message classes, versions and header versions.

The table is generated from the schemas (``messages/_apis.py``); message modules are
imported only when an API is first used, so importing this module costs one small
table, not 50 message modules. ApiVersions answers are built from the same table,
so what is advertised cannot drift from what the codec implements.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from kafkapy.wire.message import Message
from kafkapy.wire.messages._apis import API_TABLE, ApiKey

__all__ = ["ApiInfo", "ApiKey", "all_apis", "api_info", "request_class", "response_class"]


@dataclass(frozen=True, slots=True)
class ApiInfo:
    """One API key as the schemas define it.

    Attributes:
        key: the API key.
        module: the module under kafkapy.wire.messages holding its classes.
        min_version, max_version: the schema's validVersions (what the codec can do;
            what a broker advertises is its own choice inside this range).
        flexible_since: first KIP-482 flexible version, or None.
        listeners: the schema's listeners ("broker", "controller"), as Kafka declares.
    """

    key: ApiKey
    module: str
    request_name: str
    response_name: str
    min_version: int
    max_version: int
    flexible_since: int | None
    listeners: tuple[str, ...]

    @property
    def name(self) -> str:
        """Kafka's name of the API, e.g. "Produce"."""
        return self.request_name[: -len("Request")]

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version

    def is_flexible(self, version: int) -> bool:
        return self.flexible_since is not None and version >= self.flexible_since

    def request_header_version(self, version: int) -> int:
        """Request header v2 iff the request version is flexible, else v1 (KIP-482).

        For ApiVersions this holds for versions newer than the schema too: a client
        sending a newer ApiVersions uses header v2, and the broker must still read it.
        """
        if self.key == ApiKey.API_VERSIONS and version > self.max_version:
            return 2
        return 2 if self.is_flexible(version) else 1

    def response_header_version(self, version: int) -> int:
        """Response header v1 iff flexible, except ApiVersions: always v0 (KIP-511)."""
        if self.key == ApiKey.API_VERSIONS:
            return 0
        return 1 if self.is_flexible(version) else 0

    @property
    def request_class(self) -> type[Message]:
        return _load(self.module, self.request_name)

    @property
    def response_class(self) -> type[Message]:
        return _load(self.module, self.response_name)


@cache
def _load(module: str, name: str) -> type[Message]:
    return getattr(importlib.import_module(f"kafkapy.wire.messages.{module}"), name)


_INFOS: dict[int, ApiInfo] = {
    key: ApiInfo(ApiKey(key), *row) for key, row in API_TABLE.items()
}


def api_info(key: int) -> ApiInfo | None:
    """The API with this key, or None if no schema defines it."""
    return _INFOS.get(key)


def all_apis() -> list[ApiInfo]:
    """Every API the codec knows, by key."""
    return list(_INFOS.values())


def request_class(key: int) -> type[Message]:
    return _INFOS[key].request_class


def response_class(key: int) -> type[Message]:
    return _INFOS[key].response_class
