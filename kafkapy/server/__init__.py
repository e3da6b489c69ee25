"""trio networking: listeners, connections, framing, dispatch.

The only package that touches client sockets. :func:`serve` accepts connections and
reads request frames; a :class:`Dispatcher` (the broker) turns each frame into a
response. See :mod:`kafkapy.server.dispatch` for the contract between the two.
"""

from kafkapy.server.dispatch import (
    Chunk,
    CloseConnection,
    ConnectionContext,
    Dispatcher,
    FileRegion,
    Response,
)
from kafkapy.server.listeners import BoundAddress, Listener, parse_listeners
from kafkapy.server.serve import serve
from kafkapy.server.settings import ServerSettings

__all__ = [
    "BoundAddress",
    "Chunk",
    "CloseConnection",
    "ConnectionContext",
    "Dispatcher",
    "FileRegion",
    "Listener",
    "Response",
    "ServerSettings",
    "parse_listeners",
    "serve",
]
