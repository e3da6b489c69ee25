"""The principal of a TLS client certificate, as Kafka builds it.

Kafka's ``DefaultKafkaPrincipalBuilder`` on an SSL listener takes the peer
certificate's subject as ``X500Principal.getName()`` prints it (RFC 2253: the last RDN
first, keywords CN, C, L, ST, O, OU, STREET, DC, UID, other attributes as a dotted OID
and ``#`` + the hex of their DER value), passes it through ``ssl.principal.mapping.rules``
(``SslPrincipalMapper``) and makes ``User:<result>``. With no client certificate
(``ssl.client.auth`` none, or requested and not sent) the principal is
``User:ANONYMOUS`` (``SslTransportLayer.peerPrincipal``).

Rules (``SslPrincipalMapper``): a comma-separated list of ``DEFAULT`` (the name as is)
and ``RULE:pattern/replacement/[LU]``; the first rule whose pattern matches the whole
name gives the principal, its replacement applied with ``$1`` group references and
the result lower- (L) or upper-cased (U). A name no rule matches fails the connection
(Kafka's ``NoMatchingRule``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kafkapy.broker.security.principal import ANONYMOUS, USER_TYPE, KafkaPrincipal

# Python's ssl names (getpeercert()) -> X500Principal's RFC 2253 keywords.
_KEYWORDS = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}
# Attributes X500Principal prints as OID=#<DER hex>: their OID and ASN.1 string tag.
_OID_ATTRIBUTES = {
    "emailAddress": ("1.2.840.113549.1.9.1", 0x16),  # IA5String
    "serialNumber": ("2.5.4.5", 0x13),  # PrintableString
    "title": ("2.5.4.12", 0x0C),
    "givenName": ("2.5.4.42", 0x0C),
    "surname": ("2.5.4.4", 0x0C),
    "initials": ("2.5.4.43", 0x0C),
    "generationQualifier": ("2.5.4.44", 0x0C),
    "dnQualifier": ("2.5.4.46", 0x13),
    "pseudonym": ("2.5.4.65", 0x0C),
    "businessCategory": ("2.5.4.15", 0x0C),
    "postalCode": ("2.5.4.17", 0x0C),
}
_SPECIAL = set(',+"\\<>;=')

# SslPrincipalMapper.RULE_PATTERN: DEFAULT, or RULE:pattern/replacement/[LU] where / and
# \ may be escaped with \.
_RULE = re.compile(r"\s*(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?)[^,]*?)\s*(?:,|$)")
# Java's $1 group references in a replacement.
_GROUP_REF = re.compile(r"\$(\d)")


class NoMatchingRule(ValueError):
    """No ``ssl.principal.mapping.rules`` rule applies to a certificate's name."""


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: str = ""
    case: str = ""

    def apply(self, name: str) -> str | None:
        if self.pattern is None:
            return name
        if self.pattern.fullmatch(name) is None:
            return None
        # Java's String.replaceAll(pattern, replacement) on the whole name.
        result = self.pattern.sub(lambda m: _GROUP_REF.sub(lambda g: m.group(int(g.group(1))) or "",
                                                          self.replacement.replace("\\\\", "\\")), name)
        if self.case == "L":
            return result.lower()
        if self.case == "U":
            return result.upper()
        return result


class SslPrincipalMapper:
    """``ssl.principal.mapping.rules`` compiled (Kafka's ``SslPrincipalMapper``)."""

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self.rules = tuple(rules)

    @classmethod
    def from_rules(cls, value: str) -> SslPrincipalMapper:
        """Parse the config value.

        Raises:
            ValueError: a malformed rule (Kafka: "Invalid rule").
        """
        rules: list[_Rule] = []
        pos, text = 0, value.strip() or "DEFAULT"
        while pos < len(text):
            match = _RULE.match(text, pos)
            if match is None or match.end() == pos:
                raise ValueError(f"Invalid rule: {text[pos:]}")
            if match.group(1):
                rules.append(_Rule(None))
            else:
                try:
                    pattern = re.compile(match.group(2).replace("\\/", "/"))
                except re.error as exc:
                    raise ValueError(f"Invalid rule: {match.group(0).strip()}: {exc}") from None
                rules.append(_Rule(pattern, match.group(3).replace("\\/", "/"), match.group(4)))
            pos = match.end()
        return cls(rules)

    def name(self, distinguished_name: str) -> str:
        """The principal name of a certificate's subject.

        Raises:
            NoMatchingRule: no rule applies.
        """
        for rule in self.rules:
            result = rule.apply(distinguished_name)
            if result is not None:
                return result
        raise NoMatchingRule(f"No rules apply to {distinguished_name}, rules {self.rules}")

    def principal(self, subject: tuple | None) -> KafkaPrincipal:
        """``User:<mapped name>`` of a peer's subject (``SSLSocket.getpeercert()['subject']``),
        ``User:ANONYMOUS`` when there is no certificate."""
        if not subject:
            return ANONYMOUS
        return KafkaPrincipal(USER_TYPE, self.name(rfc2253_name(subject)))


def rfc2253_name(subject: tuple) -> str:
    """The subject as ``X500Principal.getName()`` prints it (RFC 2253), from the
    RDN sequence ``getpeercert()`` gives (first RDN first)."""
    rdns = []
    for rdn in reversed(subject):
        rdns.append("+".join(_attribute(name, value) for name, value in rdn))
    return ",".join(rdns)


def _attribute(name: str, value: str) -> str:
    keyword = _KEYWORDS.get(name)
    if keyword is not None:
        return f"{keyword}={_escape(value)}"
    oid, tag = _OID_ATTRIBUTES.get(name, (name, 0x0C))
    raw = value.encode()
    return f"{oid}=#{_der(tag, raw).hex()}"


def _der(tag: int, raw: bytes) -> bytes:
    n = len(raw)
    if n < 0x80:
        return bytes([tag, n]) + raw
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + raw


def _escape(value: str) -> str:
    """RFC 2253 escaping as X500Principal applies it."""
    out = []
    for i, ch in enumerate(value):
        if ch in _SPECIAL or (ch == "#" and i == 0) or (ch == " " and (i == 0 or i == len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)
