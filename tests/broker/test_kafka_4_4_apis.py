"""The APIs and versions Kafka 4.4 serves that kafkapy added last, next to Apache Kafka
4.4.0: the same requests (raw, and through Kafka's own tools) to a kafkapy node and to
the reference, the answers compared.

ApiVersions on the broker and controller listeners: AddRaftVoter v1, BrokerHeartbeat
v2, Fetch v18 (controller), AlterReplicaLogDirs, the delegation token APIs,
UnregisterBroker, AssignReplicasToDirs
(controller; a stale broker epoch refused), ListConfigResources, UnregisterController,
StreamsGroupTopologyDescriptionUpdate (broker).
ListConfigResources v0-1 (KIP-1142): ``kafka-configs --describe --entity-type
groups`` (or ``client-metrics``) lists the resources with configs. UnregisterBroker:
``kafka-cluster.sh unregister`` of an unknown id. UnregisterController: refused below
4.4-IV2 (a new kafkapy cluster is at 4.1-IV1), CONTROLLER_ID_NOT_REGISTERED at it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from compat_tests.brokers import QUICK_TOOL_JVM, DEPS, BrokerProcess, java, start_command, start_reference
from kafkapy.testing.ports import free_port
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.api_versions import ApiVersionsRequest
from kafkapy.wire.messages.incremental_alter_configs import IncrementalAlterConfigsRequest as IAC
from kafkapy.wire.messages.list_config_resources import ListConfigResourcesRequest
from kafkapy.wire.messages.unregister_broker import UnregisterBrokerRequest
from kafkapy.wire.messages.unregister_controller import UnregisterControllerRequest
from tests.requests import ask

KAFKA_4_4 = "4.4.0"

pytestmark = pytest.mark.skipif(
    not (DEPS / f"kafka-{KAFKA_4_4}" / "libs" / f"kafka_2.13-{KAFKA_4_4}.jar").exists() or shutil.which(java()) is None,
    reason=f"Apache Kafka {KAFKA_4_4} (compat_tests/install.sh) or java is missing")

#: A combined kafkapy node with a controller listener, as the reference runs.
_COMBINED = ("{python} -m kafkapy serve --memory --override process.roles=broker,controller --override node.id=1"
             " --override listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:%d"
             " --override controller.listener.names=CONTROLLER --override controller.quorum.voters=1@127.0.0.1:%d"
             " --override listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")


def _tool(main_class: str, *args: str) -> subprocess.CompletedProcess:
    """One of Kafka 4.4.0's tools (``org.apache.kafka.tools``), whatever the default reference."""
    return subprocess.run([java(), *QUICK_TOOL_JVM, "-cp", f"{DEPS / f'kafka-{KAFKA_4_4}' / 'libs'}/*",
                           f"org.apache.kafka.tools.{main_class}", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict[str, tuple[BrokerProcess, str]]]:
    port = free_port()
    with start_command(_COMBINED % (port, port)) as kafkapy, \
            start_reference(version=KAFKA_4_4, timeout=180) as kafka:
        controller = re.search(r"CONTROLLER://(127\.0\.0\.1:\d+)", (kafka.workdir / "server.properties").read_text())
        assert controller is not None
        yield {"kafkapy": (kafkapy, f"127.0.0.1:{port}"), "kafka": (kafka, controller.group(1))}


def _ranges(address: str) -> dict[int, tuple[int, int]]:
    r = ask(address, ApiVersionsRequest(client_software_name="t", client_software_version="1"), 3)
    return {k.api_key: (k.min_version, k.max_version) for k in r.api_keys}


@pytest.mark.parametrize("listener", ["broker", "controller"])
def test_the_new_versions_are_advertised_as_kafka_advertises_them(nodes, listener: str) -> None:
    keys = [ApiKey.FETCH, ApiKey.ALTER_REPLICA_LOG_DIRS, ApiKey.CREATE_DELEGATION_TOKEN, ApiKey.RENEW_DELEGATION_TOKEN,
            ApiKey.EXPIRE_DELEGATION_TOKEN, ApiKey.DESCRIBE_DELEGATION_TOKEN, ApiKey.BROKER_HEARTBEAT,
            ApiKey.UNREGISTER_BROKER, ApiKey.ASSIGN_REPLICAS_TO_DIRS, ApiKey.LIST_CONFIG_RESOURCES,
            ApiKey.ADD_RAFT_VOTER, ApiKey.UNREGISTER_CONTROLLER, ApiKey.STREAMS_GROUP_TOPOLOGY_DESCRIPTION_UPDATE]

    def advertised(who: str) -> dict:
        broker, controller = nodes[who]
        ranges = _ranges(broker.bootstrap if listener == "broker" else controller)
        return {ApiKey(k).name: ranges.get(k) for k in keys}

    ours, kafkas = advertised("kafkapy"), advertised("kafka")
    assert ours == kafkas
    assert ours["ADD_RAFT_VOTER"] == (0, 1)


@pytest.mark.parametrize("listener", ["broker", "controller"])
def test_every_api_is_advertised_as_kafka_advertises_it(nodes, listener: str) -> None:
    """Issue 15: no API of Kafka 4.4, nor version, missing on either listener."""
    def advertised(who: str) -> dict:
        broker, controller = nodes[who]
        ranges = _ranges(broker.bootstrap if listener == "broker" else controller)
        return {ApiKey(k).name: r for k, r in ranges.items()}

    assert advertised("kafkapy") == advertised("kafka")


def _set_configs(bootstrap: str) -> None:
    """A group config on "g1" (KIP-932's share group lock duration)."""
    answer = ask(bootstrap, IAC(resources=[IAC.AlterConfigsResource(resource_type=32, resource_name="g1", configs=[
        IAC.AlterableConfig(name="share.record.lock.duration.ms", config_operation=0, value="40000")])]), 1)
    assert [ErrorCode(r.error_code) for r in answer.responses] == [ErrorCode.NONE]


@pytest.mark.parametrize("version,types", [(1, [32]), (0, None), (1, []), (1, [16]), (1, [32, 4]), (1, [2]), (1, [1])])
def test_list_config_resources(nodes, version: int, types: list[int] | None) -> None:
    def answer(who: str) -> tuple:
        bootstrap = nodes[who][0].bootstrap
        if types == [32]:
            _set_configs(bootstrap)
        r = ask(bootstrap, ListConfigResourcesRequest(resource_types=types or []), version)
        listed = sorted((c.resource_type, c.resource_name) for c in r.config_resources
                        if not c.resource_name.startswith("__"))  # internal topics differ
        return ErrorCode(r.error_code), listed

    ours, kafkas = answer("kafkapy"), answer("kafka")
    assert ours == kafkas
    if types == [1]:
        assert ours == (ErrorCode.UNSUPPORTED_VERSION, [])
    if types == [32]:
        assert ours == (ErrorCode.NONE, [(32, "g1")])


@pytest.mark.parametrize("entity_type", ["groups", "client-metrics"])
def test_kafka_configs_lists_resources_by_type(nodes, entity_type: str) -> None:
    def listed(who: str) -> str:
        bootstrap = nodes[who][0].bootstrap
        _set_configs(bootstrap)
        done = _tool("ConfigCommand", "--bootstrap-server", bootstrap, "--describe", "--entity-type", entity_type)
        assert done.returncode == 0, done.stdout + done.stderr
        # the listing is what is compared; DescribeConfigs' group synonyms are not this API
        return "\n".join(line.split(" sensitive=")[0] for line in done.stdout.splitlines())

    ours, kafkas = listed("kafkapy"), listed("kafka")
    assert ours == kafkas
    assert ("share.record.lock.duration.ms=40000" in ours) == (entity_type == "groups")


def test_unregister_an_unknown_broker(nodes) -> None:
    def answer(who: str) -> tuple:
        broker, controller = nodes[who]
        raw = [ask(address, UnregisterBrokerRequest(broker_id=7), 0) for address in (broker.bootstrap, controller)]
        tool = _tool("ClusterTool", "unregister", "--bootstrap-server", broker.bootstrap, "--id", "7")
        return [(ErrorCode(r.error_code), r.error_message) for r in raw], tool.returncode, tool.stdout + tool.stderr

    ours, kafkas = answer("kafkapy"), answer("kafka")
    assert ours[:2] == kafkas[:2]
    assert [code for code, _ in ours[0]] == [ErrorCode.BROKER_ID_NOT_REGISTERED] * 2
    assert "BrokerIdNotRegisteredException" in ours[2] and "BrokerIdNotRegisteredException" in kafkas[2]


def test_unregister_controller_needs_4_4_iv2(nodes) -> None:
    ours = ask(nodes["kafkapy"][0].bootstrap, UnregisterControllerRequest(controller_id=7), 0)
    assert (ErrorCode(ours.error_code), ours.error_message) == (
        ErrorCode.UNSUPPORTED_VERSION, "The current MetadataVersion is too old to support controller unregistration.")
    # Kafka 4.4 formats a new cluster at 4.4-IV2, where an unknown id is the refusal.
    kafkas = ask(nodes["kafka"][0].bootstrap, UnregisterControllerRequest(controller_id=7), 0)
    assert ErrorCode(kafkas.error_code) == ErrorCode.CONTROLLER_ID_NOT_REGISTERED
    assert kafkas.error_message == "Controller ID 7 is not currently registered."


def test_assign_replicas_to_dirs_refuses_a_stale_broker_epoch(nodes) -> None:
    from kafkapy.wire.messages.assign_replicas_to_dirs import AssignReplicasToDirsRequest

    def answer(who: str) -> tuple:
        r = ask(nodes[who][1], AssignReplicasToDirsRequest(broker_id=1, broker_epoch=-5, directories=[]), 0)
        return ErrorCode(r.error_code), r.directories

    ours, kafkas = answer("kafkapy"), answer("kafka")
    assert ours == kafkas == (ErrorCode.STALE_BROKER_EPOCH, [])
