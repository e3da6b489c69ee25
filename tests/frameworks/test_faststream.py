"""FastStream against the plugin's broker: a subscriber whose result a publisher sends on.

The app is what FastStream's tutorial builds: pydantic models in and out, a handler
decorated with ``@broker.subscriber`` (in a consumer group) and ``@broker.publisher``,
and a second subscriber reading the results. It runs on the real broker over TCP with
both of FastStream's Kafka brokers, ``faststream.kafka`` (aiokafka) and
``faststream.confluent`` (librdkafka), not on the in-memory ``TestKafkaBroker``.
FastStream carries a ``correlation_id`` header from a message to the one its handler
publishes, so record headers must survive the round trip.

``async def`` tests run under trio here (``trio_mode``), so each test drives its app
with ``asyncio.run``; every wait is bounded by ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from typing import Any

import pytest
from faststream import Context, FastStream
from pydantic import BaseModel

from kafkapy.testing import Broker

_DEADLINE_S = 60


class Order(BaseModel):
    order_id: int
    quantity: int
    unit_price: float


class Invoice(BaseModel):
    order_id: int
    total: float


@pytest.mark.parametrize("flavour", ["faststream.kafka", "faststream.confluent"])
def test_faststream_app_handles_and_publishes(kafka_broker: Broker, flavour: str) -> None:
    suffix = flavour.rsplit(".", 1)[1]
    orders, invoices, group = f"fs-orders-{suffix}", f"fs-invoices-{suffix}", f"fs-billing-{suffix}"
    kafka_broker.create_topics(orders, invoices, partitions=2)
    KafkaBroker = importlib.import_module(flavour).KafkaBroker  # noqa: N806 (a class)
    group_settings: dict[str, Any] = {"group_id": group, "auto_offset_reset": "earliest",
                                      "session_timeout_ms": 6000, "heartbeat_interval_ms": 500}

    async def main() -> tuple[list[tuple[Invoice, str]], dict[int, str]]:
        broker = KafkaBroker(kafka_broker.bootstrap_servers)
        app = FastStream(broker)
        received: list[tuple[Invoice, str]] = []
        all_in = asyncio.Event()

        @broker.subscriber(orders, **group_settings)
        @broker.publisher(invoices)
        async def bill(order: Order) -> Invoice:
            return Invoice(order_id=order.order_id, total=order.quantity * order.unit_price)

        @broker.subscriber(invoices, **{**group_settings, "group_id": f"{group}-audit"})
        async def audit(invoice: Invoice, message: Any = Context("message")) -> None:
            received.append((invoice, message.correlation_id))
            if len(received) == 10:
                all_in.set()

        async with asyncio.timeout(_DEADLINE_S):
            async with broker:
                await app.start()
                try:
                    correlation = {}
                    for i in range(10):
                        correlation[i] = f"order-{i}"
                        await broker.publish(Order(order_id=i, quantity=i + 1, unit_price=2.5), orders,
                                             key=str(i).encode(), correlation_id=correlation[i])
                    await all_in.wait()
                finally:
                    await app.stop()
        return received, correlation

    received, correlation = asyncio.run(main())
    assert sorted(inv.order_id for inv, _ in received) == list(range(10))
    assert all(inv.total == (inv.order_id + 1) * 2.5 for inv, _ in received)
    assert all(cid == correlation[inv.order_id] for inv, cid in received)
    # what the topic holds, read from the broker's log: one JSON invoice per order
    held = sorted(json.loads(r.value)["order_id"] for r in kafka_broker.records(invoices))
    assert held == list(range(10))
    committed = kafka_broker.committed_offsets(group)
    assert sum(committed.get((orders, p), 0) for p in range(2)) == 10
