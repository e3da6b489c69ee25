"""The partition log: segments, indexes, recovery, retention, compaction, producer state.

Synchronous and clock-free; never imports ``broker`` or ``server``. The broker uses
:class:`LogManager` (a data directory, or memory) and :class:`PartitionLog` (one
partition's log); the other modules are their parts.
"""

from kafkapy.storage.errors import StorageError
from kafkapy.storage.local_log import FetchDataInfo
from kafkapy.storage.log_manager import LogManager
from kafkapy.storage.partition_log import (
    AppendOrigin,
    FetchIsolation,
    LogAppendInfo,
    PartitionLog,
    TimestampAndOffset,
)

__all__ = [
    "AppendOrigin",
    "FetchDataInfo",
    "FetchIsolation",
    "LogAppendInfo",
    "LogManager",
    "PartitionLog",
    "StorageError",
    "TimestampAndOffset",
]
