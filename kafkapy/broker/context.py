"""What a handler is given besides its request: the header, the connection and the broker."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.broker.registry import Handler
    from kafkapy.wire.headers import RequestHeader


class RequestContext:
    """One request being handled.

    Attributes:
        header: the decoded request header (API key, version, correlation id, client id).
        version: the request's API version (``header.request_api_version``).
        conn: the server's connection context (listener name, peer, per-connection state).
        broker: the :class:`~kafkapy.broker.core.BrokerCore` the handlers share.
        handlers: the handler table of the listener the request came in on (what its
            ApiVersions advertises).
    """

    __slots__ = ("broker", "conn", "handlers", "header", "version")

    def __init__(self, header: RequestHeader, conn: Any, broker: BrokerCore,
                 handlers: dict[int, Handler]) -> None:
        self.header = header
        self.version = header.request_api_version
        self.conn = conn
        self.broker = broker
        self.handlers = handlers

    @property
    def client_id(self) -> str:
        return self.header.client_id

    @property
    def principal(self) -> str:
        """The connection's principal as ACLs name it (``User:alice``, ``User:ANONYMOUS``)."""
        from kafkapy.broker.security.principal import principal_of

        return str(principal_of(self.conn))

    def authorize(self, operation: int, resource_type: int, name: str | None = None) -> bool:
        """Whether this request's principal may do ``operation`` on the resource (the
        cluster when ``name`` is None): :func:`kafkapy.broker.authorization.authorize`."""
        from kafkapy.broker import authorization

        if name is None:
            return authorization.authorize(self, operation, resource_type)
        return authorization.authorize(self, operation, resource_type, name)

    def authorized(self, operation: int, resource_type: int, names: Iterable[str]) -> set[str]:
        """The names this request's principal may do ``operation`` on."""
        from kafkapy.broker import authorization

        return authorization.filter_by_authorized(self, operation, resource_type, names)

    def __repr__(self) -> str:
        h = self.header
        return f"<RequestContext api={h.request_api_key} v{h.request_api_version} corr={h.correlation_id} client={h.client_id!r}>"
