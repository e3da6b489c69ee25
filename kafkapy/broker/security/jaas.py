"""The JAAS configuration syntax of ``sasl.jaas.config`` (Kafka's ``JaasConfig`` parser).

A value is one or more login module entries, each ``<class> <flag> <key>=<value>* ;``::

    org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";

The flag is one of ``required``, ``requisite``, ``sufficient``, ``optional``. Values
are double-quoted strings (backslash escapes the next character) or bare tokens. Kafka
tokenizes with ``StreamTokenizer`` and reads ``//`` and ``/* */`` comments; so does this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: ``AppConfigurationEntry.LoginModuleControlFlag`` names.
CONTROL_FLAGS = frozenset({"required", "requisite", "sufficient", "optional"})

_TOKEN = re.compile(r"""
    \s+ | //[^\n]* | /\*.*?\*/          # blanks and comments
  | (?P<str>"(?:[^"\\]|\\.)*")          # a quoted string
  | (?P<punct>[=;])
  | (?P<word>[^\s=;"]+)
""", re.VERBOSE | re.DOTALL)


class JaasConfigError(ValueError):
    """A ``sasl.jaas.config`` value that does not parse (Kafka: IllegalArgumentException)."""


@dataclass(frozen=True, slots=True)
class LoginModule:
    """One login module entry: its class, control flag and options in order."""

    class_name: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise JaasConfigError(f"Unexpected character {text[pos]!r} in JAAS config at {pos}")
        pos = m.end()
        if m.lastgroup == "str":
            out.append(("str", re.sub(r"\\(.)", r"\1", m.group("str")[1:-1], flags=re.DOTALL)))
        elif m.lastgroup in ("punct", "word"):
            out.append((m.lastgroup, m.group(m.lastgroup)))
    return out


def parse_jaas_config(text: str) -> list[LoginModule]:
    """Parse a ``sasl.jaas.config`` value into its login modules.

    Raises:
        JaasConfigError: no module, a bad control flag, an option without ``=value``,
            or a missing ``;`` (Kafka's messages say the same things).
    """
    tokens = _tokens(text)
    modules: list[LoginModule] = []
    i = 0
    while i < len(tokens):
        kind, class_name = tokens[i]
        if kind != "word":
            raise JaasConfigError(f"Invalid JAAS config: expected a login module class, got {class_name!r}")
        if i + 1 >= len(tokens) or tokens[i + 1][1].lower() not in CONTROL_FLAGS:
            flag = tokens[i + 1][1] if i + 1 < len(tokens) else "<end>"
            raise JaasConfigError(f"Invalid JAAS config: invalid control flag {flag!r} for {class_name}")
        flag = tokens[i + 1][1].lower()
        i += 2
        options: dict[str, str] = {}
        while i < len(tokens) and tokens[i] != ("punct", ";"):
            key = tokens[i][1]
            if i + 2 >= len(tokens) or tokens[i + 1] != ("punct", "=") or tokens[i + 2][0] == "punct":
                raise JaasConfigError(f"Invalid JAAS config: value missing for option {key!r} of {class_name}")
            options[key] = tokens[i + 2][1]
            i += 3
        if i >= len(tokens):
            raise JaasConfigError(f"Invalid JAAS config: login module {class_name} does not end with ';'")
        i += 1
        modules.append(LoginModule(class_name, flag, options))
    if not modules:
        raise JaasConfigError("JAAS config entry not terminated by semi-colon" if text.strip()
                              else "JAAS config property does not contain any login modules")
    return modules
