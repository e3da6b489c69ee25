"""Client quotas in the metadata log (KIP-546; Kafka's ``ClientQuotaControlManager``
and ``ClientQuotasImage.describe``).

AlterClientQuotas names an entity (its ``user`` / ``client-id`` / ``ip`` parts, a None
name being the type's default) and the keys to set or remove. The controller checks
the entity and each key as Kafka does and writes one ClientQuotaRecord per key whose
value changes; brokers answer DescribeClientQuotas and enforce the quotas from their
image (:mod:`kafkapy.broker.quotas`). Pure functions, no I/O.

Checks and messages are Kafka's 4.1 ones: INVALID_REQUEST for an empty entity, an
empty name, an ip combined with user or client-id, an ip that is no address, a key
the entity type does not take, a value <= 0, a fractional value of an integral key or
the same key twice (answered "Ignoring duplicate entity", as Kafka's own check
overwrites its message), or an unknown entity type (Kafka's own message "IP entity
shouldnot be combined" kept, missing space and all). The ip check
accepts address literals only (Kafka also resolves host names; kafkapy does no DNS).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from typing import NamedTuple

from kafkapy.kraft.metadata.image import MetadataImage, QuotaEntity
from kafkapy.kraft.metadata.records import ClientQuotaRecord
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.wire.error_codes import ErrorCode

USER, CLIENT_ID, IP = "user", "client-id", "ip"
PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"

#: Kafka's ``QuotaConfig`` key types: "long"/"int" values must be integral.
_USER_AND_CLIENT_KEYS = {PRODUCER_BYTE_RATE: "long", CONSUMER_BYTE_RATE: "long",
                         REQUEST_PERCENTAGE: "double", CONTROLLER_MUTATION_RATE: "double"}
#: ``QuotaConfig.userConfigs()`` adds the SCRAM mechanisms (iterations) to the user keys.
_USER_KEYS = {**_USER_AND_CLIENT_KEYS, "SCRAM-SHA-256": "int", "SCRAM-SHA-512": "int"}
_IP_KEYS = {CONNECTION_CREATION_RATE: "int"}
_LIMITS = {"long": 2.0**63 - 1, "int": 2.0**31 - 1}
_LIMIT_WORDS = {"long": "a LONG", "int": "an INT"}
#: ``DescribeClientQuotasRequest`` match types.
MATCH_EXACT, MATCH_DEFAULT, MATCH_SPECIFIED = 0, 1, 2
_EPSILON = 1e-6


class QuotaAlteration(NamedTuple):
    """One entry of AlterClientQuotas: ``ops`` maps key -> value, None to remove."""

    entity: QuotaEntity
    ops: tuple[tuple[str, float | None], ...]


class QuotaFilterError(Exception):
    """A DescribeClientQuotas filter Kafka refuses; the whole answer carries the code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def entity_of(parts: Sequence[tuple[str, str | None]]) -> QuotaEntity:
    """The image key of an entity; a type given twice keeps its last name, as Kafka's
    ``AlterClientQuotasRequest.entries`` builds a map."""
    return tuple(sorted(dict(parts).items()))


def entity_string(entity: QuotaEntity) -> str:
    """``ClientQuotaEntity.toString``: how Kafka's messages name an entity."""
    return "ClientQuotaEntity(entries=" + "{" + ", ".join(f"{t}={n}" for t, n in entity) + "})"


def _check_entity(entity: QuotaEntity) -> tuple[ApiError, dict[str, str]]:
    if not entity:
        return ApiError(ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity"), {}
    for entity_type, name in entity:
        if entity_type not in (USER, CLIENT_ID, IP):
            return ApiError(ErrorCode.INVALID_REQUEST, f"Unhandled client quota entity type: {entity_type}"), {}
        if name is not None and not name:
            return ApiError(ErrorCode.INVALID_REQUEST, f"Empty {entity_type} not supported"), {}
    types = dict(entity)
    if IP in types:
        if USER in types or CLIENT_ID in types:
            return ApiError(ErrorCode.INVALID_REQUEST, "Invalid quota entity combination, IP entity should"
                                                       "not be combined with User or ClientId"), {}
        ip = types[IP]
        if ip is not None:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                return ApiError(ErrorCode.INVALID_REQUEST, f"{ip} is not a valid IP or resolvable host."), {}
        return NO_ERROR, _IP_KEYS
    return NO_ERROR, (_USER_KEYS if USER in types and CLIENT_ID not in types else _USER_AND_CLIENT_KEYS)


def _check_value(keys: dict[str, str], key: str, value: float) -> ApiError:
    kind = keys.get(key)
    if kind is None:
        return ApiError(ErrorCode.INVALID_REQUEST, f"Invalid configuration key {key}")
    if not value > 0.0:
        return ApiError(ErrorCode.INVALID_REQUEST, f"Quota {key} must be greater than 0")
    if kind == "double":
        return NO_ERROR
    if value > _LIMITS[kind]:
        return ApiError(ErrorCode.INVALID_REQUEST, f"Proposed value for {key} is too large for {_LIMIT_WORDS[kind]}.")
    if value - math.floor(value) >= _EPSILON:
        return ApiError(ErrorCode.INVALID_REQUEST, f"{key} cannot be a fractional value.")
    return NO_ERROR


def alter_client_quotas(image: MetadataImage, alterations: Sequence[QuotaAlteration], *,
                        validate_only: bool = False) -> ControllerResult[list[tuple[QuotaEntity, ApiError]]]:
    """AlterClientQuotas: ClientQuotaRecords for the valid entities (all atomically, none
    with ``validate_only``), and an answer per entity in request order. An entity with
    one bad key writes nothing."""
    records: list = []
    results: dict[QuotaEntity, ApiError] = {}
    for alteration in alterations:
        entity = alteration.entity
        ops: dict[str, float | None] = {}
        duplicate_key = False
        for key, value in alteration.ops:
            duplicate_key |= key in ops
            ops[key] = value
        # Kafka notes a duplicate key as the entity's error, then finds the entity
        # answered already: the answer is "Ignoring duplicate entity" either way.
        if duplicate_key or entity in results:
            results[entity] = ApiError(ErrorCode.INVALID_REQUEST, f"Ignoring duplicate entity {entity_string(entity)}")
            continue
        error, keys = _check_entity(entity)
        if error is NO_ERROR:
            current = image.client_quotas.get(entity, {})
            new_records = []
            for key, value in ops.items():
                if value is None:
                    if key in current:
                        new_records.append((key, 0.0, True))
                    continue
                error = _check_value(keys, key, value)
                if error is not NO_ERROR:
                    break
                if current.get(key) != value:
                    new_records.append((key, value, False))
            if error is NO_ERROR:
                records += [ClientQuotaRecord(
                    entity=[ClientQuotaRecord.EntityData(entity_type=t, entity_name=n) for t, n in entity],
                    key=key, value=value, remove=remove) for key, value, remove in new_records]
        results[entity] = error
    return ControllerResult([] if validate_only else records, list(results.items()))


def describe_client_quotas(image: MetadataImage, components: Sequence[tuple[str, int, str | None]],
                           strict: bool) -> list[tuple[QuotaEntity, dict[str, float]]]:
    """DescribeClientQuotas from the image (``ClientQuotasImage.describe``): the entities
    matching every ``(entity type, match type, match)`` component; with ``strict``, only
    entities with no other part.

    Raises:
        QuotaFilterError: a filter Kafka refuses, with its code and message.
    """
    exact: dict[str, str | None] = {}
    specified: set[str] = set()
    for entity_type, match_type, match in components:
        if not entity_type:
            raise QuotaFilterError(ErrorCode.INVALID_REQUEST, "Invalid empty entity type.")
        if entity_type in exact or entity_type in specified:
            raise QuotaFilterError(ErrorCode.INVALID_REQUEST,
                                   f"Entity type {entity_type} cannot appear more than once in the filter.")
        if entity_type not in (IP, USER, CLIENT_ID):
            raise QuotaFilterError(ErrorCode.UNSUPPORTED_VERSION, f"Unsupported entity type {entity_type}")
        if match_type == MATCH_EXACT:
            if match is None:
                raise QuotaFilterError(ErrorCode.INVALID_REQUEST,
                                       "Request specified MATCH_TYPE_EXACT, but set match string to null.")
            exact[entity_type] = match
        elif match_type == MATCH_DEFAULT:
            if match is not None:
                raise QuotaFilterError(ErrorCode.INVALID_REQUEST,
                                       "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
            exact[entity_type] = None
        elif match_type == MATCH_SPECIFIED:
            if match is not None:
                raise QuotaFilterError(ErrorCode.INVALID_REQUEST,
                                       "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
            specified.add(entity_type)
        else:
            raise QuotaFilterError(ErrorCode.INVALID_REQUEST, f"Unknown match type {match_type}")
    used = exact.keys() | specified
    if IP in used and (USER in used or CLIENT_ID in used):
        raise QuotaFilterError(ErrorCode.INVALID_REQUEST, "Invalid entity filter component combination. IP filter "
                                                          "component should not be used with user or clientId "
                                                          "filter component.")
    out = []
    for entity, keys in image.client_quotas.items():
        parts = dict(entity)
        if strict and len(parts) != len(used):
            continue
        if all(t in parts and parts[t] == name for t, name in exact.items()) and all(t in parts for t in specified):
            out.append((entity, dict(keys)))
    return out
