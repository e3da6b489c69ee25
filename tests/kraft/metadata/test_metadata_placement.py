"""Replica placement and the controller's configuration."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from kafkapy.config import BrokerConfig
from kafkapy.kraft.metadata.controller import ControllerConfig
from kafkapy.kraft.metadata.placement import PlacementError, place_replicas


@pytest.mark.parametrize("brokers, rf", [([1, 2, 3], 3), ([5, 9, 2, 7], 2), ([4], 1), (list(range(10)), 3)])
def test_placement_spreads_leaders_and_replicas(brokers, rf):
    lists = place_replicas(brokers, start_partition=0, num_partitions=12 * len(brokers), replication_factor=rf,
                           rng=random.Random(1))
    assert all(len(r) == rf and len(set(r)) == rf and set(r) <= set(brokers) for r in lists)
    leaders = Counter(r[0] for r in lists)
    assert set(leaders.values()) == {12}  # every broker leads the same number of partitions
    replicas = Counter(b for r in lists for b in r)
    assert set(replicas.values()) == {12 * rf}


def test_added_partitions_continue_the_round_robin():
    rng = random.Random(5)
    first = place_replicas([1, 2, 3], start_partition=0, num_partitions=2, replication_factor=1, rng=rng)
    more = place_replicas([1, 2, 3], start_partition=2, num_partitions=4, replication_factor=1, rng=rng)
    assert len(first + more) == 6 and all(len(r) == 1 for r in more)


def test_placement_errors():
    with pytest.raises(PlacementError, match="only 2 broker"):
        place_replicas([1, 2], start_partition=0, num_partitions=1, replication_factor=3, rng=random.Random())
    with pytest.raises(PlacementError):
        place_replicas([1, 2], start_partition=0, num_partitions=1, replication_factor=0, rng=random.Random())


def test_controller_config_from_broker_config():
    config = BrokerConfig.from_properties({"num.partitions": "4", "default.replication.factor": "3",
                                           "broker.session.timeout.ms": "12000"})
    assert ControllerConfig.from_broker_config(config) == ControllerConfig(4, 3, 12000, broker_config=config)
    defaults = BrokerConfig.from_properties({})
    assert ControllerConfig.from_broker_config(defaults) == ControllerConfig(broker_config=defaults)
