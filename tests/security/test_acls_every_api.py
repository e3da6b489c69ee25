"""Every API kafkapy serves is authorized, or is one Kafka does not authorize.

``authorize_request`` lets an API through when it has neither a cluster operation nor
a rule, so an API added without one would be open to every principal on a broker with
an authorizer (share and streams groups were, until their rules came). This test reads
the handler table (what ApiVersions advertises) and fails for an API that is in none
of: :data:`CLUSTER_OPERATIONS`, the rules, or the allow-lists below.
"""

from __future__ import annotations

from kafkapy.broker.registry import load_handlers
from kafkapy.broker.request_authorization import _RULES, CLUSTER_OPERATIONS
from kafkapy.wire.apis import ApiKey

#: APIs ``KafkaApis`` answers without any authorization: they come before or during
#: authentication, or only describe the broker's own versions.
NOT_AUTHORIZED_BY_KAFKA = {
    ApiKey.API_VERSIONS,  # handleApiVersionsRequest: before SASL, no principal yet
    ApiKey.SASL_HANDSHAKE,  # handleSaslHandshakeRequest: part of authentication
    ApiKey.SASL_AUTHENTICATE,  # handleSaslAuthenticateRequest: part of authentication
}

#: APIs whose handler authorizes, because what is refused shapes the answer itself
#: rather than one error: unauthorized topics left out, topic auto-creation needing
#: CREATE, the ``*_authorized_operations`` fields (KafkaApis does the same inside
#: handleTopicMetadataRequest, handleDescribeCluster, handleDescribeTopicPartitionsRequest).
AUTHORIZED_IN_HANDLER = {
    ApiKey.METADATA,
    ApiKey.DESCRIBE_CLUSTER,
    ApiKey.DESCRIBE_TOPIC_PARTITIONS,
    # the channel, then USER CREATE_TOKENS for another owner (handleCreateTokenRequest);
    # renew, expire and describe are checked per token by Kafka's token manager
    ApiKey.CREATE_DELEGATION_TOKEN,
    ApiKey.RENEW_DELEGATION_TOKEN,
    ApiKey.EXPIRE_DELEGATION_TOKEN,
    ApiKey.DESCRIBE_DELEGATION_TOKEN,
}


def test_every_served_api_is_authorized_or_listed() -> None:
    served = set(load_handlers())
    missing = sorted(ApiKey(k).name for k in served if k not in CLUSTER_OPERATIONS and k not in _RULES
                     and k not in NOT_AUTHORIZED_BY_KAFKA and k not in AUTHORIZED_IN_HANDLER)
    assert missing == [], f"APIs served without an authorization rule: {missing}"


def test_the_lists_name_only_served_apis_and_do_not_overlap() -> None:
    """A stale entry would hide nothing today but would let a future API through unnoticed."""
    served = set(load_handlers())
    lists = [set(CLUSTER_OPERATIONS), set(_RULES), NOT_AUTHORIZED_BY_KAFKA, AUTHORIZED_IN_HANDLER]
    for listed in (NOT_AUTHORIZED_BY_KAFKA, AUTHORIZED_IN_HANDLER):
        assert listed <= served
    for i, a in enumerate(lists):
        for b in lists[i + 1:]:
            assert not (a & b), sorted(ApiKey(k).name for k in a & b)


def test_share_and_streams_group_apis_have_rules() -> None:
    for key in (ApiKey.SHARE_GROUP_HEARTBEAT, ApiKey.SHARE_GROUP_DESCRIBE, ApiKey.SHARE_FETCH,
                ApiKey.SHARE_ACKNOWLEDGE, ApiKey.INITIALIZE_SHARE_GROUP_STATE, ApiKey.READ_SHARE_GROUP_STATE,
                ApiKey.WRITE_SHARE_GROUP_STATE, ApiKey.DELETE_SHARE_GROUP_STATE,
                ApiKey.READ_SHARE_GROUP_STATE_SUMMARY, ApiKey.DESCRIBE_SHARE_GROUP_OFFSETS,
                ApiKey.ALTER_SHARE_GROUP_OFFSETS, ApiKey.DELETE_SHARE_GROUP_OFFSETS,
                ApiKey.STREAMS_GROUP_HEARTBEAT, ApiKey.STREAMS_GROUP_DESCRIBE):
        assert int(key) in _RULES, key.name
