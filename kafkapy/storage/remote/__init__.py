"""Tiered storage (KIP-405): the remote tiers, their segment metadata and its records.

- :mod:`.metadata`: remote segment metadata and the ``__remote_log_metadata`` record
  codec (Kafka's ``RemoteLogMetadataSerde``).
- :mod:`.storage_manager`: the ``RemoteStorageManager`` tiers, ``local`` (a directory
  laid out as Kafka's ``LocalTieredStorage``) and ``s3`` (an object store through
  ``obstore``).
- :mod:`.segments`: one partition's remote segments, as the metadata records build them
  (Kafka's ``RemoteLogMetadataCache``).

All of it is synchronous, like the rest of ``storage``: the broker calls the tiers from
worker threads (``kafkapy.broker.remote_log_manager``).
"""
