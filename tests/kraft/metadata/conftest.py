"""Fixtures for the metadata tests: a controller driven by hand, registrations."""

from __future__ import annotations

import random

import pytest

from kafkapy.kraft.metadata.bootstrap import bootstrap_records
from kafkapy.kraft.metadata.cluster_control import (
    BrokerHeartbeatRequest,
    BrokerRegistrationRequest,
)
from kafkapy.kraft.metadata.controller import Controller, ControllerConfig
from kafkapy.kraft.metadata.features import SUPPORTED_FEATURES
from kafkapy.kraft.metadata.image import Endpoint, MetadataImage


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261125)


@pytest.fixture
def controller(rng: random.Random) -> Controller:
    return Controller(ControllerConfig(), rng=rng)


def incarnation(broker_id: int) -> bytes:
    return bytes([broker_id]) * 16


def registration(broker_id: int, cluster_id: str = "test-cluster", **kwargs) -> BrokerRegistrationRequest:
    return BrokerRegistrationRequest(
        broker_id=broker_id, cluster_id=cluster_id, incarnation_id=kwargs.pop("incarnation_id", incarnation(broker_id)),
        listeners=[Endpoint("PLAINTEXT", "127.0.0.1", 9092 + broker_id, 0)],
        features=kwargs.pop("features", SUPPORTED_FEATURES), **kwargs)


class ClusterBuilder:
    """Drives a Controller and an image by hand: apply each result at the next offsets,
    replaying records into the controller as the service does."""

    def __init__(self, controller: Controller, cluster_id: str = "test-cluster") -> None:
        self.controller = controller
        self.image: MetadataImage = MetadataImage(cluster_id=cluster_id)
        self.records: list = []
        self.now_ms = 0
        self.commit(bootstrap_records())

    def commit(self, records: list) -> MetadataImage:
        offset = self.image.offset
        for record in records:
            offset += 1
            self.controller.replay(record, offset)
        self.image = self.image.apply(records, offset=offset, epoch=1)
        self.records += records
        return self.image

    def run(self, result):
        self.commit(result.records)
        return result.response

    def add_broker(self, broker_id: int, *, unfence: bool = True) -> int:
        reply = self.run(self.controller.register_broker(self.image, registration(broker_id), self.now_ms))
        assert reply.error.code == 0, reply
        if unfence:
            hb = self.run(self.controller.broker_heartbeat(
                self.image, BrokerHeartbeatRequest(broker_id, reply.broker_epoch, self.image.offset), self.now_ms))
            assert not hb.is_fenced
        return reply.broker_epoch


@pytest.fixture
def cluster(controller: Controller) -> ClusterBuilder:
    return ClusterBuilder(controller)


@pytest.fixture
def make_registration():
    return registration
