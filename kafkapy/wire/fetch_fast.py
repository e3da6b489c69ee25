"""Hand-tuned Fetch response encoder.

Same bytes as ``codec.encode_response`` on a ``FetchResponse`` (a test compares
them over generated messages), with each partition's fixed fields packed in one
call. Records (bytes-like pieces or FileRegions) pass through uncopied: they end a
chunk, and the connection sends them with sendmsg / os.sendfile.
"""

from __future__ import annotations

import struct

from kafkapy.wire.buffers import Chunk, Writer, chunks_length, write_uvarint
from kafkapy.wire.headers import RequestHeader
from kafkapy.wire.messages.fetch import FetchResponse
from kafkapy.wire.primitives import w_cstr, w_str

__all__ = ["encode_fetch_response"]

_p_i = struct.Struct(">i").pack
_p_ihi = struct.Struct(">ihi").pack
_p_ihqqq = struct.Struct(">ihqqq").pack
_p_ihqq = struct.Struct(">ihqq").pack
_p_qq = struct.Struct(">qq").pack
_EpochEndOffset = FetchResponse.EpochEndOffset
_LeaderIdAndEpoch = FetchResponse.LeaderIdAndEpoch
_SnapshotId = FetchResponse.SnapshotId
_NodeEndpoint = FetchResponse.NodeEndpoint


def encode_fetch_response(header: RequestHeader, response: FetchResponse,
                          version: int | None = None) -> list[Chunk]:
    """The response frame as chunks, as ``codec.encode_response(header, response, version)``."""
    if version is None:
        version = header.request_api_version
    if not 4 <= version <= 18:
        from kafkapy.wire.codec import encode_response
        return encode_response(header, response, version)
    flexible = version >= 12
    w = Writer(b"\0\0\0\0")
    b = w.buf
    b += _p_i(header.correlation_id)
    if flexible:
        b.append(0)
    if version >= 7:
        b += _p_ihi(response.throttle_time_ms, response.error_code, response.session_id)
    else:
        b += _p_i(response.throttle_time_ms)
    topics = response.responses
    if flexible:
        write_uvarint(b, len(topics) + 1)
    else:
        b += _p_i(len(topics))
    for t in topics:
        if version >= 13:
            b += t.topic_id
        elif flexible:
            w_cstr(b, t.topic)
        else:
            w_str(b, t.topic)
        parts = t.partitions
        if flexible:
            write_uvarint(b, len(parts) + 1)
        else:
            b += _p_i(len(parts))
        for p in parts:
            if version >= 5:
                b += _p_ihqqq(p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset,
                              p.log_start_offset)
            else:
                b += _p_ihqq(p.partition_index, p.error_code, p.high_watermark, p.last_stable_offset)
            aborted = p.aborted_transactions
            if aborted is None:
                b += b"\0" if flexible else b"\xff\xff\xff\xff"
            else:
                if flexible:
                    write_uvarint(b, len(aborted) + 1)
                    for a in aborted:
                        b += _p_qq(a.producer_id, a.first_offset)
                        b.append(0)
                else:
                    b += _p_i(len(aborted))
                    for a in aborted:
                        b += _p_qq(a.producer_id, a.first_offset)
            if version >= 11:
                b += _p_i(p.preferred_read_replica)
            b = w.records(b, p.records, flexible)
            if flexible:
                b = _partition_tags(p, version, w, b)
        if flexible:
            b.append(0)
    if flexible:
        endpoints = response.node_endpoints
        if version >= 16 and endpoints:
            t = bytearray()
            write_uvarint(t, len(endpoints) + 1)
            enc = _NodeEndpoint._encoders[version]
            for e in endpoints:
                t = enc(e, w, t)
            b += b"\x01\x00"
            write_uvarint(b, len(t))
            b += t
        else:
            b.append(0)
    chunks = w.finish()
    chunks[0][0:4] = _p_i(chunks_length(chunks) - 4)  # type: ignore[index]
    return chunks


def _partition_tags(p: FetchResponse.PartitionData, version: int, w: Writer, b: bytearray) -> bytearray:
    """The partition's tagged fields: DivergingEpoch (0), CurrentLeader (1), SnapshotId (2)."""
    d, c, s = p.diverging_epoch, p.current_leader, p.snapshot_id
    tags = []
    if d.epoch != -1 or d.end_offset != -1:
        tags.append((0, _EpochEndOffset, d))
    if c.leader_id != -1 or c.leader_epoch != -1:
        tags.append((1, _LeaderIdAndEpoch, c))
    if s.end_offset != -1 or s.epoch != -1:
        tags.append((2, _SnapshotId, s))
    if not tags:
        b.append(0)
        return b
    b.append(len(tags))
    for tag, cls, value in tags:
        t = cls._encoders[version](value, w, bytearray())
        b.append(tag)
        write_uvarint(b, len(t))
        b += t
    return b
