"""The principal of a connection (Kafka's ``KafkaPrincipal``), kept in its state.

PLAINTEXT connections are ``User:ANONYMOUS``; a SASL connection is ``User:<name>``
once authenticated (``DefaultKafkaPrincipalBuilder``: the SASL authorization id).
An authorizer reads it with :func:`principal_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ``KafkaPrincipal.USER_TYPE``.
USER_TYPE = "User"
#: Key of the principal in ``ConnectionContext.state``.
PRINCIPAL_KEY = "principal"


@dataclass(frozen=True, slots=True)
class KafkaPrincipal:
    """A principal: type and name, shown as Kafka shows it (``User:alice``)."""

    principal_type: str
    name: str

    def __str__(self) -> str:
        return f"{self.principal_type}:{self.name}"


#: ``KafkaPrincipal.ANONYMOUS``: the principal of unauthenticated (PLAINTEXT) connections.
ANONYMOUS = KafkaPrincipal(USER_TYPE, "ANONYMOUS")


def principal_of(conn: Any) -> KafkaPrincipal:
    """The principal of a connection: its authenticated user, else ANONYMOUS."""
    state = getattr(conn, "state", None)
    return ANONYMOUS if state is None else state.get(PRINCIPAL_KEY, ANONYMOUS)
