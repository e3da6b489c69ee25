"""SASL/PLAIN, server side (RFC 4616; Kafka's ``PlainSaslServer``).

The client's one message is ``authzid NUL authcid NUL passwd`` (UTF-8). The password
is checked against the listener's JAAS users (``user_<name>="<password>"`` options of
``PlainLoginModule``, Kafka's ``PlainServerCallbackHandler``). Kafka's failure messages
are kept, as clients show them to users.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from kafkapy.broker.security.jaas import LoginModule

MECHANISM = "PLAIN"
#: ``PlainLoginModule``'s class name in JAAS configs.
LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
#: JAAS option prefix of the users PLAIN accepts (``PlainServerCallbackHandler.JAAS_USER_PREFIX``).
JAAS_USER_PREFIX = "user_"
#: ``PlainSaslServer``'s answer to a wrong user or password.
INVALID_CREDENTIALS = "Authentication failed: Invalid username or password"


class SaslAuthenticationError(Exception):
    """The client failed to authenticate; the message is sent to it (Kafka's
    ``SaslAuthenticationException``)."""


class SaslMechanismError(Exception):
    """The exchange broke (Kafka's ``SaslException``); the client gets Kafka's generic
    "invalid credentials" message, never this one."""


def plain_users(modules: list[LoginModule]) -> dict[str, str]:
    """The ``user_<name>`` -> password options of the PlainLoginModule entries."""
    users: dict[str, str] = {}
    for module in modules:
        for key, value in module.options.items():
            if key.startswith(JAAS_USER_PREFIX):
                users[key[len(JAAS_USER_PREFIX):]] = value
    return users


class PlainServer:
    """One PLAIN exchange: :meth:`evaluate` the client's message once."""

    mechanism = MECHANISM

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = users
        self.complete = False
        self.authorization_id: str | None = None

    def evaluate(self, response: bytes) -> bytes:
        """Check the client's message; returns the (empty) server answer.

        Raises:
            SaslAuthenticationError: a missing user or password, a wrong one, or an
                authorization id other than the user.
            SaslMechanismError: the message is not three NUL-separated tokens.
        """
        if self.complete:
            raise SaslMechanismError("PLAIN exchange already complete")
        tokens = response.decode("utf-8", errors="replace").split("\0")
        if len(tokens) != 3:
            raise SaslMechanismError(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(tokens)}")
        authzid, username, password = tokens
        if not username:
            raise SaslAuthenticationError("Authentication failed: username not specified")
        if not password:
            raise SaslAuthenticationError("Authentication failed: password not specified")
        expected = self._users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise SaslAuthenticationError(INVALID_CREDENTIALS)
        if authzid and authzid != username:
            raise SaslAuthenticationError(
                "Authentication failed: Client requested an authorization id that is different from username")
        self.authorization_id = username
        self.complete = True
        return b""
