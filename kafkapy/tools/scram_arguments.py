"""``kafkapy storage format --add-scram``: SCRAM credentials written into the
bootstrap metadata, so a SASL/SCRAM cluster has its first users (the inter-broker
one, an admin) before any broker can be asked to create them.

The argument syntax is Kafka's (``ScramParser``)::

    SCRAM-SHA-256=[name=alice,password=alice-secret]
    SCRAM-SHA-512=[name=alice,iterations=8192,salt="N3E=",saltedpassword="YCE="]

``salt`` and ``saltedpassword`` are base64; a value may be in double quotes. Without
``salt`` a random one is drawn; without ``iterations``, 4096.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from kafkapy.tools.formatter import FormatterError


def parse_add_scram(arguments: Iterable[str]) -> list[Any]:
    """One UserScramCredentialRecord per ``--add-scram`` argument.

    Raises:
        FormatterError: with kafka-storage's message for a malformed argument.
    """
    return [_record(argument) for argument in arguments]


def _record(argument: str) -> Any:
    from kafkapy.broker.security.scram import (
        MAX_ITERATIONS,
        MIN_ITERATIONS,
        ScramMechanism,
        credential_from_salted_password,
        generate_credential,
    )
    from kafkapy.kraft.metadata.records import UserScramCredentialRecord

    argument = argument.strip()
    mechanism_name, sep, config = argument.partition("=")
    if not sep:
        raise FormatterError(f"Failed to find equals sign in SCRAM argument '{argument}'")
    mechanism = ScramMechanism.from_mechanism_name(mechanism_name)
    if not mechanism:
        raise FormatterError(f"The add-scram mechanism {mechanism_name} is not supported.")
    if not config.startswith("["):
        raise FormatterError("Expected configuration string to start with [")
    if not config.endswith("]"):
        raise FormatterError("Expected configuration string to end with ]")
    fields = _fields(config[1:-1])
    name = fields.pop("name", None)
    if name is None:
        raise FormatterError("You must supply 'name' to add-scram")
    salt = _base64(fields.pop("salt", None), "salt")
    iterations_text = fields.pop("iterations", None)
    try:
        iterations = MIN_ITERATIONS if iterations_text is None else int(iterations_text)
    except ValueError:
        raise FormatterError(f"Failed to parse iterations count: {iterations_text}") from None
    password = fields.pop("password", None)
    salted_text = fields.pop("saltedpassword", None)
    if password is None:
        if salted_text is None:
            raise FormatterError("You must supply one of 'password' or 'saltedpassword' to add-scram")
        if salt is None:
            raise FormatterError("You must supply 'salt' with 'saltedpassword' to add-scram")
    salted = _base64(salted_text, "saltedPassword") if password is None else None
    if fields:
        raise FormatterError(f"Unknown SCRAM configurations: {', '.join(sorted(fields))}")
    label = mechanism.name  # Kafka prints the enum constant: SCRAM_SHA_256
    if iterations < MIN_ITERATIONS:
        raise FormatterError(f"The 'iterations' value must be >= {MIN_ITERATIONS} for add-scram using {label}")
    if iterations > MAX_ITERATIONS:
        raise FormatterError(f"The 'iterations' value must be <= {MAX_ITERATIONS} for add-scram using {label}")
    if salted is not None and salt is not None:
        credential = credential_from_salted_password(mechanism, salt, salted, iterations)
    else:
        assert password is not None
        credential = generate_credential(mechanism, password, iterations, salt)
    return UserScramCredentialRecord(name=name, mechanism=int(mechanism), salt=credential.salt,
                                     stored_key=credential.stored_key, server_key=credential.server_key,
                                     iterations=iterations)


def _fields(text: str) -> dict[str, str]:
    """``key=value`` components split on commas; a value's surrounding double quotes
    are dropped. A later key wins."""
    fields: dict[str, str] = {}
    for component in text.split(","):
        key, sep, value = component.partition("=")
        if not sep:
            raise FormatterError(f"No equals sign found in SCRAM component: {component}")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        fields[key] = value
    return fields


def _base64(text: str | None, what: str) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatterError(f"Failed to decode given {what}: {text}") from None


__all__ = ["parse_add_scram"]
