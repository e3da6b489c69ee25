"""What a node leaves for later to answer sooner (issue 18): handler modules imported on
their API's first request, the coordinators built together on first use or once the
image holds an internal topic. Checked in a fresh interpreter, over TCP with real clients."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from kafkapy.broker.registry import API_TABLE, import_handlers


def test_api_table_says_what_each_handler_module_registers():
    table = import_handlers()  # every @handles checks its versions against API_TABLE
    assert set(table) == {int(key) for key in API_TABLE}
    assert all(handler.fn.__module__ == f"kafkapy.broker.handlers.{API_TABLE[key][0]}"
               for key, handler in table.items())


_SCRIPT = textwrap.dedent("""
    import sys
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient
    from kafkapy.testing import Broker

    LATER = ("kafkapy.broker.group_coordinator", "kafkapy.broker.txn_coordinator",
             "kafkapy.broker.handlers.offset_commit", "kafkapy.broker.handlers.share_fetch")
    with Broker() as broker:
        AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10)
        print("after metadata:", sorted(m for m in LATER if m in sys.modules))
        broker.create_topics("t")
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "g",
                             "enable.auto.commit": False})
        consumer.commit(offsets=[TopicPartition("t", 0, 7)], asynchronous=False)
        print("committed:", consumer.committed([TopicPartition("t", 0)], timeout=10)[0].offset)
        consumer.close()
        print("after a group:", sorted(m for m in LATER[:3] if m in sys.modules))  # built together
""")


def test_first_answers_import_no_coordinator_and_groups_work_once_used():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "after metadata: []",
        "committed: 7",
        "after a group: ['kafkapy.broker.group_coordinator', 'kafkapy.broker.handlers.offset_commit', "
        "'kafkapy.broker.txn_coordinator']",
    ]
