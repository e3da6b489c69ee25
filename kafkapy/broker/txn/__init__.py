"""The pieces of the transaction coordinator (:mod:`kafkapy.broker.txn_coordinator`).

``metadata``: the state table and one transactional id's metadata; ``log``: the
``__transaction_state`` record format and loading a partition from it; ``markers``:
writing COMMIT/ABORT markers to partition leaders (WriteTxnMarkers).
"""
