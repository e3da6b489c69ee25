"""Markers for partitions led by other brokers (Kafka's ``TransactionMarkerChannelManager``).

The coordinator hands each destination broker the markers of a transaction for the
partitions that broker leads (:meth:`TxnMarkerChannel.send`). Markers queued for one
broker while a request to it is in flight leave together in the next WriteTxnMarkers
request, one marker per producer id per request as Kafka's answer is keyed by producer
id. The version is the highest both brokers know: v2 carries each marker's transaction
version (KIP-1228) to a leader that reads it (kafkapy, Kafka 4.4), v1 drops it for
Kafka 4.1, whose only version it is (the field is ignorable). The connection is the broker's endpoint on
the inter-broker listener, client id ``broker-<id>-txn-marker-sender`` (Kafka's name),
and a request may take ``request.timeout.ms``.

The answer is per partition, Kafka's error codes from the leader; a request that got
no answer (no connection, the timeout) answers NETWORK_EXCEPTION for each of its
partitions. Deciding what to retry is the coordinator's
(:meth:`~kafkapy.broker.txn_coordinator.TransactionCoordinator._complete_transaction`,
Kafka's ``TransactionMarkerRequestCompletionHandler``): it looks the leaders up again
in the metadata image and sends the markers still missing, until all are written.

Task-safety: trio thread only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from kafkapy.broker.inter_broker import InterBrokerSender
from kafkapy.broker.security.listener_security import inter_broker_sasl_client, inter_broker_ssl_context
from kafkapy.broker.replica_manager import TopicPartition
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.write_txn_markers import WriteTxnMarkersRequest

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore
    from kafkapy.wire.message import Message

def error_code(code: int) -> ErrorCode:
    """``code`` as an :class:`ErrorCode`; one this broker does not know is UNKNOWN_SERVER_ERROR."""
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


def marker_partitions(marker: WriteTxnMarkersRequest.WritableTxnMarker) -> list[TopicPartition]:
    """The partitions a marker is for, in request order."""
    return [TopicPartition(t.name, index) for t in marker.topics for index in t.partition_indexes]


class _Pending:
    """A marker waiting for its broker's answer."""

    __slots__ = ("codes", "done", "marker")

    def __init__(self, marker: WriteTxnMarkersRequest.WritableTxnMarker) -> None:
        self.marker = marker
        self.codes: dict[TopicPartition, ErrorCode] = {}
        self.done = trio.Event()


class TxnMarkerChannel(InterBrokerSender):
    """See the module doc. Start :meth:`run` in the coordinator's nursery."""

    def __init__(self, broker: BrokerCore) -> None:
        super().__init__(broker.node_id, "txn-marker-sender", broker.inter_broker_address,
                         timeout_s=lambda: broker.config.request_timeout_ms / 1000,
                         version=None,
                         ssl_context=inter_broker_ssl_context(broker.config),
                         authenticate=inter_broker_sasl_client(broker.config))
        self._queues: dict[int, list[_Pending]] = {}

    async def send(self, broker_id: int, marker: WriteTxnMarkersRequest.WritableTxnMarker
                   ) -> dict[TopicPartition, ErrorCode]:
        """Have ``broker_id`` write ``marker``; its answer per partition of the marker."""
        pending = _Pending(marker)
        self._queues.setdefault(broker_id, []).append(pending)
        self.wakeup(broker_id)
        try:
            await pending.done.wait()
        finally:
            queue = self._queues.get(broker_id, [])
            if pending in queue:  # cancelled before it was sent
                queue.remove(pending)
        return pending.codes

    def generate(self, broker_id: int) -> tuple[Message, Any] | None:
        queue = self._queues.get(broker_id)
        if not queue:
            return None
        batch: list[_Pending] = []
        later: list[_Pending] = []
        producer_ids: set[int] = set()
        for pending in queue:
            if pending.marker.producer_id in producer_ids:
                later.append(pending)
            else:
                producer_ids.add(pending.marker.producer_id)
                batch.append(pending)
        self._queues[broker_id] = later
        return WriteTxnMarkersRequest(markers=[p.marker for p in batch]), batch

    def complete(self, broker_id: int, context: Any, response: Message | None, failure: str | None) -> None:
        batch: list[_Pending] = context
        results = {} if response is None else {r.producer_id: r for r in response.markers}  # type: ignore[attr-defined]
        for pending in batch:
            result = results.get(pending.marker.producer_id)
            answered = {} if result is None else {
                TopicPartition(t.name, p.partition_index): error_code(p.error_code)
                for t in result.topics for p in t.partitions}
            pending.codes = {tp: answered.get(tp, ErrorCode.NETWORK_EXCEPTION)
                             for tp in marker_partitions(pending.marker)}
            pending.done.set()
