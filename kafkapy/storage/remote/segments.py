"""One partition's remote segments, built from its metadata records (Kafka's
``RemoteLogMetadataCache``).

Records arrive in the order of the partition's ``__remote_log_metadata`` partition:
a segment is added at COPY_SEGMENT_STARTED, becomes readable at COPY_SEGMENT_FINISHED
and stops being readable at DELETE_SEGMENT_STARTED; DELETE_SEGMENT_FINISHED forgets it.
A copy that started but never finished (the leader died) is not readable and is
deleted by the next leader's expiration, as Kafka's ``RemoteLogManager`` does.
"""

from __future__ import annotations

import bisect

from kafkapy.storage.remote.metadata import (
    RemoteLogMetadata,
    RemoteLogSegmentMetadata,
    RemoteLogSegmentMetadataUpdate,
    RemoteLogSegmentState,
    RemotePartitionDeleteMetadata,
    RemotePartitionDeleteState,
)

_S = RemoteLogSegmentState


class RemoteLogSegments:
    """The remote segments of one partition; see the module doc."""

    def __init__(self) -> None:
        self.by_id: dict[bytes, RemoteLogSegmentMetadata] = {}
        self.partition_deleted: RemotePartitionDeleteState | None = None
        self._copied: list[RemoteLogSegmentMetadata] | None = None

    def apply(self, record: RemoteLogMetadata) -> None:
        self._copied = None
        if isinstance(record, RemoteLogSegmentMetadata):
            self.by_id[record.segment_id.id] = record
        elif isinstance(record, RemoteLogSegmentMetadataUpdate):
            current = self.by_id.get(record.segment_id.id)
            if current is None:
                return
            if record.state is _S.DELETE_SEGMENT_FINISHED:
                del self.by_id[record.segment_id.id]
            else:
                self.by_id[record.segment_id.id] = _with_state(current, record)
        elif isinstance(record, RemotePartitionDeleteMetadata):
            self.partition_deleted = record.state
            if record.state is RemotePartitionDeleteState.DELETE_PARTITION_FINISHED:
                self.by_id.clear()

    def copied(self) -> list[RemoteLogSegmentMetadata]:
        """The readable segments (COPY_SEGMENT_FINISHED), by start offset."""
        if self._copied is None:
            self._copied = sorted((s for s in self.by_id.values() if s.state is _S.COPY_SEGMENT_FINISHED),
                                  key=lambda s: (s.start_offset, s.end_offset))
        return self._copied

    def unfinished(self) -> list[RemoteLogSegmentMetadata]:
        """Segments whose copy or deletion did not finish: garbage to delete."""
        return [s for s in self.by_id.values() if s.state is not _S.COPY_SEGMENT_FINISHED]

    def segment_for(self, offset: int) -> RemoteLogSegmentMetadata | None:
        """The readable segment holding ``offset``, or the first one after it."""
        copied = self.copied()
        i = bisect.bisect_right([s.start_offset for s in copied], offset) - 1
        if i >= 0 and copied[i].end_offset >= offset:
            return copied[i]
        nxt = copied[i + 1] if i + 1 < len(copied) else None
        return nxt

    @property
    def highest_offset(self) -> int:
        """The last offset copied, -1 if none (``highestOffsetInRemoteStorage``)."""
        copied = self.copied()
        return max((s.end_offset for s in copied), default=-1)

    @property
    def start_offset(self) -> int | None:
        copied = self.copied()
        return copied[0].start_offset if copied else None

    @property
    def size(self) -> int:
        return sum(s.segment_size_in_bytes for s in self.copied())


def _with_state(current: RemoteLogSegmentMetadata, update: RemoteLogSegmentMetadataUpdate) -> RemoteLogSegmentMetadata:
    from dataclasses import replace

    return replace(current, state=update.state, event_timestamp_ms=update.event_timestamp_ms,
                   custom_metadata=update.custom_metadata if update.custom_metadata is not None
                   else current.custom_metadata)
