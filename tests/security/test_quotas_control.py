"""The controller side of client quotas without a network: ClientQuotaRecords written by
``alter_client_quotas``, replayed into the image, kept by snapshots, and described."""

from __future__ import annotations

from kafkapy.kraft.metadata.image import EMPTY_IMAGE
from kafkapy.kraft.metadata.quota_control import (
    MATCH_DEFAULT,
    MATCH_EXACT,
    QuotaAlteration,
    alter_client_quotas,
    describe_client_quotas,
    entity_of,
)
from kafkapy.kraft.metadata.records import decode_record, encode_record
from kafkapy.wire.error_codes import ErrorCode

ALICE_C1 = entity_of([("user", "alice"), ("client-id", "c1")])
DEFAULT_CLIENT = entity_of([("client-id", None)])


def test_records_replay_snapshot_and_describe() -> None:
    result = alter_client_quotas(EMPTY_IMAGE, [
        QuotaAlteration(ALICE_C1, (("producer_byte_rate", 1024.0), ("request_percentage", 25.0))),
        QuotaAlteration(DEFAULT_CLIENT, (("consumer_byte_rate", 2048.0),)),
    ])
    assert [error.code for _, error in result.response] == [ErrorCode.NONE, ErrorCode.NONE]
    records = [decode_record(encode_record(r)) for r in result.records]  # through the log's framing
    image = EMPTY_IMAGE.apply(records)
    assert image.client_quotas == {ALICE_C1: {"producer_byte_rate": 1024.0, "request_percentage": 25.0},
                                   DEFAULT_CLIENT: {"consumer_byte_rate": 2048.0}}
    assert EMPTY_IMAGE.apply(image.to_records()).client_quotas == image.client_quotas

    # an unchanged value writes nothing; removing the last key drops the entity
    assert alter_client_quotas(image, [QuotaAlteration(ALICE_C1, (("producer_byte_rate", 1024.0),))]).records == []
    removed = alter_client_quotas(image, [QuotaAlteration(DEFAULT_CLIENT, (("consumer_byte_rate", None),))])
    assert DEFAULT_CLIENT not in image.apply(removed.records).client_quotas

    assert describe_client_quotas(image, [("client-id", MATCH_DEFAULT, None)], strict=True) == [
        (DEFAULT_CLIENT, {"consumer_byte_rate": 2048.0})]
    assert [e for e, _ in describe_client_quotas(image, [("user", MATCH_EXACT, "alice")], strict=False)] == [ALICE_C1]
    assert describe_client_quotas(image, [("user", MATCH_EXACT, "alice")], strict=True) == []


def test_a_bad_key_fails_its_entity_only() -> None:
    result = alter_client_quotas(EMPTY_IMAGE, [
        QuotaAlteration(entity_of([("client-id", "a")]), (("producer_byte_rate", 10.0), ("bogus", 1.0))),
        QuotaAlteration(entity_of([("client-id", "b")]), (("producer_byte_rate", 10.0),)),
    ])
    assert [(error.code, error.message) for _, error in result.response] == [
        (ErrorCode.INVALID_REQUEST, "Invalid configuration key bogus"), (ErrorCode.NONE, None)]
    assert len(result.records) == 1 and result.records[0].entity[0].entity_name == "b"
