"""The pieces of the transaction coordinator (:mod:`kafkapy.broker.txn_coordinator`).

``metadata``: the state table and one transactional id's metadata; ``log``: the
``__transaction_state`` record format; ``shard``: one ``__transaction_state`` partition
as a coordinator-runtime shard (its ids and the operations on them); ``markers``:
writing COMMIT/ABORT markers to partition leaders (WriteTxnMarkers).
"""
