"""The ``group.version`` feature (KIP-848): a new cluster finalizes it at 1, as Kafka
4.1 does; at 0 the consumer group protocol is off and ConsumerGroupHeartbeat answers
UNSUPPORTED_VERSION, while classic groups keep working."""

from __future__ import annotations

from kafkapy.kraft.metadata.feature_control import UpgradeType
from kafkapy.testing import Broker
from kafkapy.testing.client import KafkaConnection
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from kafkapy.wire.messages.find_coordinator import FindCoordinatorRequest
from tests.broker.test_transactions_features import finalized, update

GV = "group.version"


def heartbeat(bootstrap: str) -> int:
    """A first heartbeat's error, once the group coordinator is there (it is created on
    the first FindCoordinator, as clients send before they join)."""
    with KafkaConnection(bootstrap) as conn:
        assert conn.request(FindCoordinatorRequest(key_type=0, coordinator_keys=["gv"]), 4).coordinators[0].error_code == 0
        request = ConsumerGroupHeartbeatRequest(group_id="gv", member_id="", member_epoch=0, rebalance_timeout_ms=5000,
                                                subscribed_topic_names=["t"], topic_partitions=[])
        return conn.request(request, 0).error_code


def test_group_version_gates_the_consumer_protocol():
    with Broker() as b:
        bootstrap = b.bootstrap_servers
        with KafkaConnection(bootstrap) as conn:
            r = conn.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"), 4)  # v4 lists min-0 features
        assert {f.name: (f.min_version, f.max_version) for f in r.supported_features}[GV] == (0, 1)
        assert finalized(bootstrap)[GV] == 1
        assert heartbeat(bootstrap) == ErrorCode.NONE
        assert [x.error_code for x in update(bootstrap, 0, UpgradeType.SAFE_DOWNGRADE, feature=GV).results] == [0]
        assert GV not in finalized(bootstrap)
        assert heartbeat(bootstrap) == ErrorCode.UNSUPPORTED_VERSION
        assert [x.error_code for x in update(bootstrap, 1, feature=GV).results] == [0]
        assert heartbeat(bootstrap) == ErrorCode.NONE
