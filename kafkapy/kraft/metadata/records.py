"""Metadata records and their frame in ``__cluster_metadata``.

The record classes are generated from Kafka's metadata schemas
(``kafkapy/wire/schemas/metadata/*.json`` -> ``kafkapy.wire.messages.cluster_metadata``);
this module names the ones the image and controller use and frames them as Kafka's
``AbstractApiMessageSerde`` does. A record's value in a batch is::

    uvarint frame version (1) . uvarint record type (apiKey) . uvarint record version . body

where the body is the flexible encoding of the record at that version; the key is null.
Records travel in ordinary v2 batches (producer id -1, partitionLeaderEpoch = the Raft
epoch); building those batches is the Raft log's job, which treats values as bytes.

Versions written are those of ``metadata.version`` 4.1-IV1 with ELR off: the highest
version of each schema, except PartitionRecord and PartitionChangeRecord, which stay at
v1 (v2 marks eligible-leader-replica support, not finalized here), as Kafka's
``MetadataVersion.partitionRecordVersion`` picks.
"""

from __future__ import annotations

import importlib
from typing import Any

from kafkapy.wire._varint import decode_uvarint, encode_uvarint
from kafkapy.wire.buffers import Writer
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.errors import WireError
from kafkapy.wire.messages.cluster_metadata import RECORD_TYPES
from kafkapy.wire.messages.cluster_metadata.access_control_entry_record import AccessControlEntryRecord
from kafkapy.wire.messages.cluster_metadata.broker_registration_change_record import (
    BrokerRegistrationChangeRecord,
)
from kafkapy.wire.messages.cluster_metadata.client_quota_record import ClientQuotaRecord
from kafkapy.wire.messages.cluster_metadata.config_record import ConfigRecord
from kafkapy.wire.messages.cluster_metadata.feature_level_record import (
    FeatureLevelRecord,
)
from kafkapy.wire.messages.cluster_metadata.fence_broker_record import FenceBrokerRecord
from kafkapy.wire.messages.cluster_metadata.no_op_record import NoOpRecord
from kafkapy.wire.messages.cluster_metadata.partition_change_record import (
    PartitionChangeRecord,
)
from kafkapy.wire.messages.cluster_metadata.partition_record import PartitionRecord
from kafkapy.wire.messages.cluster_metadata.producer_ids_record import ProducerIdsRecord
from kafkapy.wire.messages.cluster_metadata.register_broker_record import (
    RegisterBrokerRecord,
)
from kafkapy.wire.messages.cluster_metadata.remove_access_control_entry_record import (
    RemoveAccessControlEntryRecord,
)
from kafkapy.wire.messages.cluster_metadata.remove_topic_record import RemoveTopicRecord
from kafkapy.wire.messages.cluster_metadata.remove_user_scram_credential_record import (
    RemoveUserScramCredentialRecord,
)
from kafkapy.wire.messages.cluster_metadata.topic_record import TopicRecord
from kafkapy.wire.messages.cluster_metadata.unfence_broker_record import (
    UnfenceBrokerRecord,
)
from kafkapy.wire.messages.cluster_metadata.unregister_broker_record import (
    UnregisterBrokerRecord,
)
from kafkapy.wire.messages.cluster_metadata.user_scram_credential_record import (
    UserScramCredentialRecord,
)

BrokerEndpoint = RegisterBrokerRecord.BrokerEndpoint
BrokerFeature = RegisterBrokerRecord.BrokerFeature

__all__ = [
    "AccessControlEntryRecord",
    "BrokerEndpoint",
    "BrokerFeature",
    "BrokerRegistrationChangeRecord",
    "ClientQuotaRecord",
    "ConfigRecord",
    "FeatureLevelRecord",
    "FenceBrokerRecord",
    "NoOpRecord",
    "PartitionChangeRecord",
    "PartitionRecord",
    "ProducerIdsRecord",
    "RegisterBrokerRecord",
    "RemoveAccessControlEntryRecord",
    "RemoveTopicRecord",
    "RemoveUserScramCredentialRecord",
    "TopicRecord",
    "UnfenceBrokerRecord",
    "UnregisterBrokerRecord",
    "UserScramCredentialRecord",
    "decode_record",
    "encode_record",
    "record_type",
]

#: Kafka's ``AbstractApiMessageSerde.DEFAULT_FRAME_VERSION``.
FRAME_VERSION = 1

#: Versions below the schema's highest that 4.1-IV1 (ELR off) writes. Kafka 4.4's schemas
#: add RegisterBrokerRecord v4 and BrokerRegistrationChangeRecord v3 (cordoned log
#: directories, metadata.version 4.3+); a Kafka 4.1 node following the log cannot read
#: them ("Can't read version 4 of BrokerEndpoint" ends its raft thread).
_WRITE_VERSIONS = {"PartitionRecord": 1, "PartitionChangeRecord": 1, "RegisterBrokerRecord": 3,
                   "BrokerRegistrationChangeRecord": 2}
#: type id -> record class, filled on first use of a type.
_CLASSES: dict[int, type] = {}


def record_type(record: Any) -> int:
    """The metadata record type id (the schema's apiKey) of ``record``."""
    return record.API_KEY


def encode_record(record: Any, version: int | None = None) -> bytes:
    """The framed value of one metadata record (the version 4.1-IV1 writes by default)."""
    type_id = record.API_KEY
    if version is None:
        version = _WRITE_VERSIONS.get(type(record).__name__, record.VALID_VERSIONS[1])
    out = Writer()
    header = encode_uvarint(FRAME_VERSION) + encode_uvarint(type_id) + encode_uvarint(version)
    out.buf += header
    record.encode(version, out)
    return out.getvalue()


def _record_class(type_id: int) -> type:
    cls = _CLASSES.get(type_id)
    if cls is None:
        module, name, _, _ = RECORD_TYPES[type_id]
        cls = getattr(importlib.import_module(f"kafkapy.wire.messages.cluster_metadata.{module}"), name)
        _CLASSES[type_id] = cls
    return cls


def decode_record(value: bytes | bytearray | memoryview) -> Any:
    """Decode one framed metadata record value.

    Raises:
        WireError(CORRUPT_MESSAGE): unknown frame version or record type, a version the
            schema lacks, or a body that does not decode exactly.
    """
    buf = value if isinstance(value, memoryview) else memoryview(value)
    end = len(buf)
    frame, pos = decode_uvarint(buf, 0, end)
    if frame != FRAME_VERSION:
        raise WireError(f"unknown metadata record frame version {frame}",
                        error_code=ErrorCode.CORRUPT_MESSAGE, offset=0)
    type_id, pos = decode_uvarint(buf, pos, end)
    version, pos = decode_uvarint(buf, pos, end)
    if type_id not in RECORD_TYPES:
        raise WireError(f"unknown metadata record type {type_id}",
                        error_code=ErrorCode.CORRUPT_MESSAGE, offset=pos)
    cls = _record_class(type_id)
    try:
        record, stop = cls.decode(buf, pos, version)
    except WireError as e:
        e.error_code = ErrorCode.CORRUPT_MESSAGE
        raise
    if stop != end:
        raise WireError(f"{end - stop} bytes left after {cls.__name__}",
                        error_code=ErrorCode.CORRUPT_MESSAGE, offset=stop)
    return record
