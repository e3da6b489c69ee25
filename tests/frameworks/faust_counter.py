"""A Faust app for tests/frameworks/test_faust.py: page views counted per page in a Table.

Run as Faust's own worker (``python faust_counter.py worker``), configured by the
environment the test sets: ``KAFKAPY_BOOTSTRAP``, ``FAUST_APP_ID``, ``FAUST_DATADIR``,
``FAUST_VIEWS_TOPIC``, ``FAUST_COUNTS_TOPIC``. The agent adds one to the page's count
in the table (whose changes Faust writes to the ``<app id>-views_per_page-changelog``
topic) and publishes the new count, so the test sees each step. The table lives in
memory (``store="memory://"``): after a restart it holds only what Faust recovers
from the changelog, which is what the test checks.
"""

from __future__ import annotations

import os

import faust

app = faust.App(
    os.environ["FAUST_APP_ID"],
    broker=f"kafka://{os.environ['KAFKAPY_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ["FAUST_DATADIR"],
    web_enabled=False,
    topic_partitions=1,
    topic_replication_factor=1,
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",
    # Kafka's defaults (session 45 s, rebalance 5 min) would make a restart slow to
    # settle; short ones keep the test's waits short.
    broker_session_timeout=6.0,
    broker_heartbeat_interval=0.5,
    broker_rebalance_timeout=6.0,
    broker_commit_interval=0.5,
    stream_recovery_delay=0.0,
)

views = app.topic(os.environ["FAUST_VIEWS_TOPIC"], key_type=bytes, value_type=bytes,
                  key_serializer="raw", value_serializer="raw")
counts = app.topic(os.environ["FAUST_COUNTS_TOPIC"], key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")
views_per_page = app.Table("views_per_page", default=int, partitions=1)


@app.agent(views)
async def count_views(stream: faust.StreamT) -> None:
    async for page, _user in stream.items():
        name = page.decode()
        views_per_page[name] += 1
        await counts.send(key=page, value=str(views_per_page[name]).encode())


if __name__ == "__main__":
    app.main()
