"""CIDR blocks as ACL hosts (Kafka 4.4, metadata.version 4.4-IV1; ``CidrUtils``).

An ACL host containing ``/`` is a block (``10.0.0.0/8``, ``2001:db8::/32``): the
controller refuses one below 4.4-IV1 and checks its notation with Kafka's messages
(commons-net ``SubnetUtils``, Kafka's ``SubnetUtils6`` for a host with ``:``); the
authorizer matches a client address inside the block, bounds included, whatever the
level (``StandardAuthorizerData.findResult``). A client address of the other IP
version, or a block that does not parse, matches nothing.
"""

from __future__ import annotations

import functools
import ipaddress
import re

_IPV4_CIDR = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})")
_JAVA_INT = re.compile(r"[+-]?[0-9]{1,10}")


def cidr_error(block: str) -> str | None:
    """Why ``block`` is not a CIDR block, in Kafka's words, or None when it is one."""
    if ":" in block:
        address, _, prefix = block.partition("/")
        base = f"Could not parse [{block}]"
        if not _JAVA_INT.fullmatch(prefix):  # Integer.parseInt
            return f"{base} - invalid prefix length"
        if not 0 <= int(prefix) <= 128:
            return f"{base} - prefix length must be between 0 and 128"
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return f"Could not parse [{address}]"
        return None
    match = _IPV4_CIDR.fullmatch(block)
    if match is None:
        return f"Could not parse [{block}]"
    for value, high in [*((int(octet), 255) for octet in match.groups()[:4]), (int(match.group(5)), 32)]:
        if value > high:
            return f"Value [{value}] not in range [0,{high}]"
    return None


@functools.lru_cache(maxsize=1024)
def _network(block: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if cidr_error(block) is not None:
        return None
    address, _, prefix = block.partition("/")
    return ipaddress.ip_network(f"{address.split('%')[0]}/{prefix}", strict=False)


@functools.lru_cache(maxsize=4096)
def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def in_block(block: str, host: str) -> bool:
    """Whether client address ``host`` is inside ``block`` (``CidrUtils.isInRange``);
    False for a host pattern that is not a block."""
    if "/" not in block:
        return False
    network, address = _network(block), _address(host)
    return network is not None and address is not None and address.version == network.version \
        and address in network
