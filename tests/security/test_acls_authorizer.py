"""The StandardAuthorizer's decisions and the ACL records, without a broker.

Cases follow Kafka's ``StandardAuthorizerTest`` and ``AclControlManagerTest``: deny
wins over allow, PREFIXED and LITERAL ``*`` patterns, ``User:*``, hosts, the
operations READ/WRITE/DELETE/ALTER imply DESCRIBE and ALTER_CONFIGS implies
DESCRIBE_CONFIGS (never for DENY), ALL, super users, ``allow.everyone.if.no.acl.found``
and ``authorizeByResourceType``.
"""

from __future__ import annotations

import pytest

from kafkapy.broker.security.authorizer import StandardAuthorizer, parse_super_users
from kafkapy.kraft.metadata import acl_control
from kafkapy.kraft.metadata.acls import (
    AclFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
    StandardAcl,
)
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.kraft.metadata.snapshot import image_records
from kafkapy.wire.error_codes import ErrorCode

Op, Res, Pat, Perm = AclOperation, ResourceType, PatternType, AclPermissionType
ALICE, BOB = "User:alice", "User:bob"


def acl(principal: str, op: int, name: str, *, res: int = Res.TOPIC, pattern: int = Pat.LITERAL,
        perm: int = Perm.ALLOW, host: str = "*") -> StandardAcl:
    return StandardAcl(res, name, pattern, principal, host, op, perm)


def image_with(*acls: StandardAcl) -> MetadataImage:
    result = acl_control.create_acls(MetadataImage(), list(acls))
    assert all(e.code == ErrorCode.NONE for e in result.response)
    return MetadataImage().apply(result.records)


def check(image: MetadataImage, principal: str, op: int, name: str, *, res: int = Res.TOPIC,
          host: str = "10.0.0.1", authorizer: StandardAuthorizer | None = None) -> bool:
    return (authorizer or StandardAuthorizer()).authorize(image.acls, principal, host, op, res, name)


def test_literal_allow_is_for_that_name_principal_and_operation_only() -> None:
    image = image_with(acl(ALICE, Op.WRITE, "orders"))
    assert check(image, ALICE, Op.WRITE, "orders")
    assert not check(image, ALICE, Op.WRITE, "orders2")
    assert not check(image, ALICE, Op.READ, "orders")
    assert not check(image, BOB, Op.WRITE, "orders")
    assert not check(image, ALICE, Op.WRITE, "orders", res=Res.GROUP)


def test_deny_wins_over_allow_from_any_pattern() -> None:
    image = image_with(acl(ALICE, Op.ALL, "*"), acl(ALICE, Op.READ, "secret", perm=Perm.DENY))
    assert check(image, ALICE, Op.READ, "public")
    assert not check(image, ALICE, Op.READ, "secret")
    assert check(image, ALICE, Op.WRITE, "secret")
    image = image_with(acl(ALICE, Op.READ, "pay", pattern=Pat.PREFIXED, perm=Perm.DENY),
                       acl(ALICE, Op.READ, "payments"))
    assert not check(image, ALICE, Op.READ, "payments")


def test_prefixed_matches_names_starting_with_the_prefix() -> None:
    image = image_with(acl(ALICE, Op.READ, "team-a.", pattern=Pat.PREFIXED))
    assert check(image, ALICE, Op.READ, "team-a.orders")
    assert check(image, ALICE, Op.READ, "team-a.")
    assert not check(image, ALICE, Op.READ, "team-a")
    assert not check(image, ALICE, Op.READ, "team-b.orders")


def test_literal_acl_is_not_a_prefix() -> None:
    image = image_with(acl(ALICE, Op.READ, "team"))
    assert not check(image, ALICE, Op.READ, "team-a")


def test_wildcard_resource_and_wildcard_principal() -> None:
    image = image_with(acl("User:*", Op.DESCRIBE, "*"))
    assert check(image, ALICE, Op.DESCRIBE, "anything")
    assert check(image, BOB, Op.DESCRIBE, "else")
    assert not check(image, BOB, Op.READ, "else")


def test_host_must_match_unless_wildcard() -> None:
    image = image_with(acl(ALICE, Op.READ, "t", host="10.0.0.1"), acl(BOB, Op.READ, "t", host="*"))
    assert check(image, ALICE, Op.READ, "t", host="10.0.0.1")
    assert not check(image, ALICE, Op.READ, "t", host="10.0.0.2")
    assert check(image, BOB, Op.READ, "t", host="10.9.9.9")


@pytest.mark.parametrize("granted", [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER, Op.DESCRIBE, Op.ALL])
def test_describe_is_implied(granted: int) -> None:
    assert check(image_with(acl(ALICE, granted, "t")), ALICE, Op.DESCRIBE, "t")


@pytest.mark.parametrize("granted", [Op.CREATE, Op.ALTER_CONFIGS, Op.DESCRIBE_CONFIGS])
def test_describe_is_not_implied_by_others(granted: int) -> None:
    assert check(image_with(acl(ALICE, granted, "t")), ALICE, Op.DESCRIBE, "t") is False


def test_describe_configs_is_implied_by_alter_configs_only() -> None:
    assert check(image_with(acl(ALICE, Op.ALTER_CONFIGS, "t")), ALICE, Op.DESCRIBE_CONFIGS, "t")
    assert not check(image_with(acl(ALICE, Op.ALTER, "t")), ALICE, Op.DESCRIBE_CONFIGS, "t")


def test_deny_implies_nothing_but_deny_all_denies_everything() -> None:
    image = image_with(acl(ALICE, Op.ALL, "t"), acl(ALICE, Op.READ, "t", perm=Perm.DENY))
    assert check(image, ALICE, Op.DESCRIBE, "t")  # DENY READ does not deny DESCRIBE
    image = image_with(acl(ALICE, Op.READ, "t"), acl(ALICE, Op.ALL, "t", perm=Perm.DENY))
    assert not check(image, ALICE, Op.READ, "t")


def test_super_users_pass_even_a_deny() -> None:
    image = image_with(acl("User:admin", Op.ALL, "*", perm=Perm.DENY))
    authorizer = StandardAuthorizer(parse_super_users(" User:admin ; User:ANONYMOUS"))
    assert authorizer.super_users == {"User:admin", "User:ANONYMOUS"}
    assert check(image, "User:admin", Op.DELETE, "t", authorizer=authorizer)
    assert check(image, "User:ANONYMOUS", Op.CLUSTER_ACTION, "kafka-cluster", res=Res.CLUSTER, authorizer=authorizer)
    assert not check(image, ALICE, Op.DELETE, "t", authorizer=authorizer)


def test_allow_everyone_if_no_acl_found_applies_only_where_no_acl_exists() -> None:
    image = image_with(acl(BOB, Op.READ, "bobs"))
    open_authorizer = StandardAuthorizer(allow_everyone_if_no_acl_found=True)
    assert check(image, ALICE, Op.READ, "nobody-s", authorizer=open_authorizer)
    assert not check(image, ALICE, Op.READ, "bobs", authorizer=open_authorizer)  # an ACL exists for it
    assert not check(image, ALICE, Op.READ, "nobody-s")  # Kafka's default: false
    assert check(MetadataImage(), ALICE, Op.READ, "t", authorizer=open_authorizer)


def test_index_follows_a_newer_image() -> None:
    authorizer = StandardAuthorizer()
    first = image_with(acl(ALICE, Op.READ, "t"))
    assert check(first, ALICE, Op.READ, "t", authorizer=authorizer)
    removal = acl_control.delete_acls(first, [AclFilter(principal=ALICE)])
    second = first.apply(removal.records)
    assert not check(second, ALICE, Op.READ, "t", authorizer=authorizer)


def test_authorize_by_resource_type() -> None:
    authorizer = StandardAuthorizer()

    def by_type(image: MetadataImage, principal: str = ALICE) -> bool:
        return authorizer.authorize_by_resource_type(image.acls, principal, "10.0.0.1", Op.WRITE, Res.TOPIC)

    assert by_type(image_with(acl(ALICE, Op.WRITE, "any-topic")))
    assert by_type(image_with(acl(ALICE, Op.WRITE, "p.", pattern=Pat.PREFIXED)))
    assert not by_type(image_with(acl(ALICE, Op.READ, "t")))
    assert not by_type(image_with(acl(ALICE, Op.WRITE, "t"), acl(ALICE, Op.WRITE, "t", perm=Perm.DENY)))
    # a DENY on a prefix of the allowed name dominates it
    assert not by_type(image_with(acl(ALICE, Op.WRITE, "team.a"), acl(ALICE, Op.WRITE, "team.", pattern=Pat.PREFIXED,
                                                                      perm=Perm.DENY)))
    assert not by_type(image_with(acl(ALICE, Op.WRITE, "t"), acl(ALICE, Op.WRITE, "*", perm=Perm.DENY)))
    assert not by_type(image_with(acl(BOB, Op.WRITE, "t")))


def test_create_validates_as_acl_control_manager() -> None:
    bad = [acl(ALICE, Op.READ, "t", res=Res.ANY), acl(ALICE, Op.READ, "t", pattern=Pat.MATCH),
           acl(ALICE, Op.ANY, "t"), acl(ALICE, Op.READ, "t", perm=Perm.ANY), acl(ALICE, Op.READ, "")]
    result = acl_control.create_acls(MetadataImage(), bad)
    assert [(e.code, e.message) for e in result.response] == [
        (ErrorCode.INVALID_REQUEST, "Invalid resourceType ANY"),
        (ErrorCode.INVALID_REQUEST, "Invalid patternType MATCH"),
        (ErrorCode.INVALID_REQUEST, "Invalid operation ANY"),
        (ErrorCode.INVALID_REQUEST, "Invalid permissionType ANY"),
        (ErrorCode.INVALID_REQUEST, "Resource name should not be empty"),
    ]
    assert result.records == []


def test_create_twice_writes_one_record_and_snapshot_rebuilds_the_acls() -> None:
    image = image_with(acl(ALICE, Op.READ, "t"))
    again = acl_control.create_acls(image, [acl(ALICE, Op.READ, "t"), acl(BOB, Op.READ, "t")])
    assert [e.code for e in again.response] == [ErrorCode.NONE, ErrorCode.NONE]
    assert len(again.records) == 1
    image = image.apply(again.records)
    rebuilt = MetadataImage().apply(image_records(image))
    assert rebuilt.acls == image.acls


def test_delete_filters_match_as_kafka_filters() -> None:
    image = image_with(acl(ALICE, Op.READ, "orders"), acl(ALICE, Op.READ, "ord", pattern=Pat.PREFIXED),
                       acl(ALICE, Op.READ, "*"), acl(BOB, Op.WRITE, "orders"), acl(BOB, Op.READ, "g", res=Res.GROUP))
    match = AclFilter(resource_type=Res.TOPIC, resource_name="orders", pattern_type=Pat.MATCH)
    assert len(acl_control.describe_acls(image, match)) == 4
    literal = AclFilter(resource_type=Res.TOPIC, resource_name="orders", pattern_type=Pat.LITERAL)
    assert len(acl_control.describe_acls(image, literal)) == 2
    any_name = AclFilter(resource_type=Res.TOPIC, resource_name="orders", pattern_type=Pat.ANY)
    assert len(acl_control.describe_acls(image, any_name)) == 2
    result = acl_control.delete_acls(image, [AclFilter(principal=BOB), AclFilter(operation=Op.WRITE),
                                             AclFilter(resource_type=Res.UNKNOWN)])
    assert [len(r.deleted) for r in result.response[:2]] == [2, 1]
    assert result.response[2].error.code == ErrorCode.INVALID_REQUEST
    assert len(result.records) == 2  # BOB's WRITE matched twice, removed once
    assert {a.principal for a in image.apply(result.records).acls.values()} == {ALICE}


def _created(metadata_version: int, *hosts: str) -> list[tuple[ErrorCode, str | None]]:
    image = MetadataImage(features={"metadata.version": metadata_version})
    result = acl_control.create_acls(image, [acl(ALICE, Op.READ, "orders", host=h) for h in hosts])
    return [(ErrorCode(e.code), e.message) for e in result.response]


def test_cidr_hosts_need_4_4_iv1_and_kafkas_notation() -> None:
    """``AclControlManager.validateHostPattern``; the messages are Kafka 4.4.0's
    (``CidrUtils.validate`` on the same blocks)."""
    assert _created(31, "10.0.0.0/8", "10.0.0.1", "") == [
        (ErrorCode.UNSUPPORTED_VERSION, "CIDR-based ACL host patterns require metadata version 4.4-IV1 or higher."),
        (ErrorCode.NONE, None), (ErrorCode.INVALID_REQUEST, "Host pattern cannot be null or empty")]
    blocks = ["10.0.0.0/8", "10.0.0.0/33", "300.0.0.0/8", "10.0/8", "2001:db8::/32", "::1/129", "zz::/3", "::/x"]
    assert [message for _, message in _created(32, *blocks)] == [
        None, "Invalid CIDR notation '10.0.0.0/33': Value [33] not in range [0,32]",
        "Invalid CIDR notation '300.0.0.0/8': Value [300] not in range [0,255]",
        "Invalid CIDR notation '10.0/8': Could not parse [10.0/8]", None,
        "Invalid CIDR notation '::1/129': Could not parse [::1/129] - prefix length must be between 0 and 128",
        "Invalid CIDR notation 'zz::/3': Could not parse [zz::]",
        "Invalid CIDR notation '::/x': Could not parse [::/x] - invalid prefix length"]


def test_cidr_host_matches_the_addresses_of_its_block() -> None:
    image = MetadataImage(features={"metadata.version": 33})
    result = acl_control.create_acls(image, [acl(ALICE, Op.READ, "orders", host="10.0.0.0/8"),
                                             acl(BOB, Op.WRITE, "orders", host="2001:db8::/32")])
    image = image.apply(result.records)
    assert check(image, ALICE, Op.READ, "orders", host="10.255.255.255")
    assert not check(image, ALICE, Op.READ, "orders", host="11.0.0.1")
    assert not check(image, ALICE, Op.READ, "orders", host="::ffff:10.0.0.1")
    assert check(image, BOB, Op.WRITE, "orders", host="2001:db8::7")
    assert not check(image, BOB, Op.WRITE, "orders", host="10.0.0.1")
    assert StandardAuthorizer().authorize_by_resource_type(image.acls, BOB, "2001:db8::7", Op.WRITE, Res.TOPIC)
    assert not StandardAuthorizer().authorize_by_resource_type(image.acls, BOB, "2001:db9::7", Op.WRITE, Res.TOPIC)
