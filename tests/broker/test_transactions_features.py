"""The ``transaction.version`` feature: finalized through the metadata log by
UpdateFeatures (``kafka-features.sh``), read back through ApiVersions, and what the
coordinator does at each level.

A new cluster starts at 2; a downgrade needs the safe or unsafe downgrade type; a
level outside what the controller and every broker support is refused; clients of
the older protocol work at every level.
"""

from __future__ import annotations

import pytest

from kafkapy.kraft.metadata.feature_control import (
    FeatureUpdate,
    UpgradeType,
    update_features,
)
from kafkapy.kraft.metadata.image import BrokerRegistration, MetadataImage
from kafkapy.testing import Broker
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.end_txn import EndTxnRequest
from kafkapy.wire.messages.update_features import UpdateFeaturesRequest
from tests.broker.test_idempotence import wait_for_topic
from tests.broker.test_transactions_protocol import TxnClient, wait_for_state

TV = "transaction.version"


def finalized(bootstrap: str) -> dict[str, int]:
    with TxnClient(bootstrap) as c:
        r = c.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)
        return {f.name: f.max_version_level for f in r.finalized_features}


def update(bootstrap: str, level: int, upgrade_type: int = UpgradeType.UPGRADE, *, version: int = 1,
           validate_only: bool = False, feature: str = TV):
    with TxnClient(bootstrap) as c:
        return c.request(UpdateFeaturesRequest(feature_updates=[UpdateFeaturesRequest.FeatureUpdateKey(
            feature=feature, max_version_level=level, upgrade_type=upgrade_type)], validate_only=validate_only),
            version)


def set_transaction_version(bootstrap: str, level: int) -> None:
    """Finalize ``transaction.version`` at ``level``, as ``kafka-features.sh`` does."""
    kind = UpgradeType.UPGRADE if level >= finalized(bootstrap).get(TV, 0) else UpgradeType.SAFE_DOWNGRADE
    r = update(bootstrap, level, kind)
    assert [(x.feature, x.error_code) for x in r.results] == [(TV, ErrorCode.NONE)]
    assert finalized(bootstrap).get(TV, 0) == level


@pytest.fixture(scope="module")
def broker():
    """This module's own broker: its tests change a cluster-wide feature."""
    with Broker() as b:
        yield b


def test_update_features_through_the_metadata_log(broker):
    bootstrap = broker.bootstrap_servers
    assert finalized(bootstrap)[TV] == 2
    too_high = update(bootstrap, 3).results[0]
    assert too_high.error_code == ErrorCode.INVALID_UPDATE_VERSION and "0-2" in too_high.error_message
    assert update(bootstrap, 1).results[0].error_code == ErrorCode.INVALID_UPDATE_VERSION  # a downgrade typed upgrade
    assert update(bootstrap, 0, UpgradeType.SAFE_DOWNGRADE, validate_only=True).results[0].error_code == \
        ErrorCode.NONE
    assert finalized(bootstrap)[TV] == 2  # only validated
    # v2 answers the first failure as the request's error.
    r = update(bootstrap, 1, version=2)
    assert r.error_code == ErrorCode.INVALID_UPDATE_VERSION and r.results == []
    assert update(bootstrap, 26, feature="metadata.version").results[0].error_code == \
        ErrorCode.INVALID_UPDATE_VERSION
    assert update(bootstrap, 1, feature="no.such.version").results[0].error_code == ErrorCode.INVALID_UPDATE_VERSION
    set_transaction_version(bootstrap, 0)
    assert TV not in finalized(bootstrap)  # level 0 removes the feature (KIP-584)
    set_transaction_version(bootstrap, 2)


def test_a_timed_out_transaction_is_aborted_at_the_cluster_level():
    """Not a client's request: the coordinator aborts at the finalized version, so at 2
    the epoch goes up twice (the fence, then the end of the transaction, as Kafka's
    PrepareEpochFence + EndTxn), at 0 once."""
    with Broker({"transaction.abort.timed.out.transaction.cleanup.interval.ms": "50"}) as b:
        for level, bumps in ((2, 2), (0, 1)):
            set_transaction_version(b.bootstrap_servers, level)
            with TxnClient(b.bootstrap_servers) as c:
                topic = f"timeout-{level}"
                wait_for_topic(c, topic)
                tid = f"tx-timeout-{level}"
                c.find_coordinator(tid)
                r = c.init(tid, timeout_ms=100)
                assert c.add_partitions(tid, r.producer_id, r.producer_epoch, topic) == {(topic, 0): ErrorCode.NONE}
                wait_for_state(c, tid, "CompleteAbort")
                assert c.describe(tid).producer_epoch == r.producer_epoch + bumps
                end = c.request(EndTxnRequest(transactional_id=tid, producer_id=r.producer_id,
                                              producer_epoch=r.producer_epoch, committed=True), 4)
                assert end.error_code == ErrorCode.PRODUCER_FENCED


def test_feature_control_checks_every_broker():
    """A level a registered broker does not support is refused (pure controller)."""
    old = BrokerRegistration(1, 1, b"i" * 16, {}, {"metadata.version": (7, 27)})
    new = BrokerRegistration(2, 1, b"j" * 16, {}, {"metadata.version": (7, 27), TV: (0, 2)})
    image = MetadataImage(features={"metadata.version": 27}, brokers={1: old, 2: new})
    result = update_features(image, [FeatureUpdate(TV, 2)])
    assert result.records == [] and result.response[TV].code == ErrorCode.INVALID_UPDATE_VERSION
    assert "Broker 1" in result.response[TV].message
    image = MetadataImage(features={"metadata.version": 27}, brokers={2: new})
    result = update_features(image, [FeatureUpdate(TV, 2)])
    assert result.response[TV].code == ErrorCode.NONE
    assert [(r.name, r.feature_level) for r in result.records] == [(TV, 2)]
