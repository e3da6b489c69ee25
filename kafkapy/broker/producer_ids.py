"""Producer ids handed out by this broker, a block at a time from the controller.

Kafka's ``RPCProducerIdManager``: the controller owns the id space and hands each
broker blocks of 1000 ids through the metadata log (a ProducerIdsRecord per block), so
ids are unique across brokers and restarts. The broker takes ids from its block in
order and asks for the next block when it runs out.

Task-safety: trio thread only; concurrent callers wait for one block request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from kafkapy.broker.errors import BrokerError
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.broker.core import BrokerCore


class ProducerIdManager:
    """Generates producer ids from controller-allocated blocks."""

    def __init__(self, broker: BrokerCore) -> None:
        self.broker = broker
        self._next = 0
        self._end = 0  # exclusive end of the current block
        self._lock = trio.Lock()

    async def generate_producer_id(self) -> int:
        """The next unused producer id.

        Raises:
            BrokerError: the controller could not allocate a block (its error code).
        """
        async with self._lock:
            if self._next >= self._end:
                block = await self.broker.metadata.allocate_producer_ids(self.broker.node_id,
                                                                          self.broker.broker_epoch)
                if block.error.code != ErrorCode.NONE:
                    raise BrokerError(block.error.code, block.error.message)
                self._next = block.producer_id_start
                self._end = block.producer_id_start + block.producer_id_len
            producer_id = self._next
            self._next += 1
            return producer_id
