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


def test_kip55_precedence_and_metric_tags() -> None:
    from kafkapy.broker.quotas import quota_for

    key = "producer_byte_rate"
    quotas = {
        entity_of([("client-id", None)]): {key: 8.0},
        entity_of([("client-id", "c")]): {key: 7.0},
        entity_of([("user", None)]): {key: 6.0},
        entity_of([("user", None), ("client-id", None)]): {key: 5.0},
        entity_of([("user", None), ("client-id", "c")]): {key: 4.0},
        entity_of([("user", "u")]): {key: 3.0},
        entity_of([("user", "u"), ("client-id", None)]): {key: 2.0},
        entity_of([("user", "u"), ("client-id", "c")]): {key: 1.0, "consumer_byte_rate": 9.0},
    }
    expected_tags = {1.0: ("u", "c"), 2.0: ("u", "c"), 3.0: ("u", ""), 4.0: ("u", "c"), 5.0: ("u", "c"),
                     6.0: ("u", ""), 7.0: ("", "c"), 8.0: ("", "c")}
    remaining = dict(quotas)
    for level in sorted(expected_tags):  # remove the winner each time: the next level takes over
        assert quota_for(remaining, key, "u", "c") == (expected_tags[level], level)
        del remaining[next(e for e, keys in remaining.items() if keys.get(key) == level)]
    assert quota_for(remaining, key, "u", "c") is None
    # a key is looked up on its own: the user+client entity sets consumer_byte_rate only for them
    assert quota_for(quotas, "consumer_byte_rate", "u", "c") == (("u", "c"), 9.0)
    assert quota_for(quotas, "consumer_byte_rate", "v", "c") is None


def test_rate_and_throttle_time_follow_kafka() -> None:
    from kafkapy.broker.quotas import Rate

    rate = Rate(11, 1000, now_ms=0)
    rate.record(20_000, 0)
    # at first the window counts as (11 - 1) whole windows: 20 kB / 10 s = 2000 B/s
    assert rate.per_second(0) == 2000.0
    assert rate.throttle_ms(1000.0, 0) == 10_000  # (2000 - 1000) / 1000 * 10 s
    assert rate.throttle_ms(2000.0, 0) == 0
    rate.record(0, 15_500)  # 15.5 s later the first sample has expired
    assert rate.per_second(15_500) == 0.0
