"""Hand-tuned Metadata response encoder, with cacheable per-topic fragments.

A Metadata response is mostly its topics, and a topic's encoding changes only when
the topic does (metadata image changes are rare next to Metadata requests). So the
encoding of one topic at one version is a standalone fragment,
:func:`encode_metadata_topic`, that a caller may keep (keyed by its metadata image
and the version) and pass back to :func:`encode_metadata_response`: a response for
100 topics then costs joining 100 bytes objects. Without fragments each partition
is packed with one ``struct`` call (one cached Struct per replica-list shape).

Same bytes as ``codec.encode_response`` on a ``MetadataResponse`` (tested over
generated messages, every version 0-13).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache

from kafkapy.wire.buffers import Chunk, write_uvarint
from kafkapy.wire.headers import RequestHeader
from kafkapy.wire.messages.metadata import MetadataResponse
from kafkapy.wire.primitives import w_cstr, w_ncstr, w_nstr, w_str

__all__ = ["MetadataEncoder", "encode_metadata_response", "encode_metadata_topic"]

_p_i = struct.Struct(">i").pack
_p_h = struct.Struct(">h").pack
_p_hi = struct.Struct(">hi").pack
_p_io = struct.Struct(">i?").pack

Topic = MetadataResponse.MetadataResponseTopic


@lru_cache(maxsize=1024)
def _partition_struct(version: int, n_replicas: int, n_isr: int, n_offline: int) -> struct.Struct:
    """One Struct for a partition of this version and replica-list shape (lengths < 127)."""
    flexible = version >= 9
    fmt = ">hii" + ("i" if version >= 7 else "")
    lists = [n_replicas, n_isr] + ([n_offline] if version >= 5 else [])
    for n in lists:
        fmt += ("B" if flexible else "i") + "i" * n
    if flexible:
        fmt += "B"  # the partition's empty tagged-field section
    return struct.Struct(fmt)


def _partitions(b: bytearray, partitions: Sequence, version: int) -> None:
    flexible = version >= 9
    off = 1 if flexible else 0
    if flexible:
        write_uvarint(b, len(partitions) + 1)
    else:
        b += _p_i(len(partitions))
    for p in partitions:
        r, isr = p.replica_nodes, p.isr_nodes
        offline = p.offline_replicas if version >= 5 else ()
        if flexible and (len(r) > 126 or len(isr) > 126 or len(offline) > 126):
            b = MetadataResponse.MetadataResponsePartition._encoders[version](p, None, b)
            continue
        s = _partition_struct(version, len(r), len(isr), len(offline))
        head = (p.error_code, p.partition_index, p.leader_id, p.leader_epoch) if version >= 7 else (
            p.error_code, p.partition_index, p.leader_id)
        if version >= 5:
            if flexible:
                b += s.pack(*head, len(r) + off, *r, len(isr) + off, *isr, len(offline) + off, *offline, 0)
            else:
                b += s.pack(*head, len(r), *r, len(isr), *isr, len(offline), *offline)
        elif flexible:  # pragma: no cover - flexible versions all have offline replicas
            raise AssertionError(version)
        else:
            b += s.pack(*head, len(r), *r, len(isr), *isr)


def encode_metadata_topic(topic: Topic, version: int) -> bytes:
    """One topic of a Metadata response at ``version``: a fragment to cache."""
    flexible = version >= 9
    b = bytearray(_p_h(topic.error_code))
    if flexible:
        (w_ncstr if version >= 12 else w_cstr)(b, topic.name)
    else:
        w_str(b, topic.name)
    if version >= 10:
        b += topic.topic_id
    if version >= 1:
        b.append(1 if topic.is_internal else 0)
    _partitions(b, topic.partitions, version)
    if version >= 8:
        b += _p_i(topic.topic_authorized_operations)
    if flexible:
        b.append(0)
    return bytes(b)


def encode_metadata_response(header: RequestHeader, response: MetadataResponse,
                             topic_fragments: Sequence[bytes] | None = None,
                             version: int | None = None) -> list[Chunk]:
    """The response frame, as ``codec.encode_response(header, response, version)``.

    Args:
        topic_fragments: if given, the encoded topics (from encode_metadata_topic at
            this version), used in place of ``response.topics``.
    """
    if version is None:
        version = header.request_api_version
    flexible = version >= 9
    b = bytearray(b"\0\0\0\0")
    b += _p_i(header.correlation_id)
    if flexible:
        b.append(0)
    if version >= 3:
        b += _p_i(response.throttle_time_ms)
    brokers = response.brokers
    if flexible:
        write_uvarint(b, len(brokers) + 1)
        for br in brokers:
            b += _p_i(br.node_id)
            w_cstr(b, br.host)
            b += _p_i(br.port)
            w_ncstr(b, br.rack)
            b.append(0)
    else:
        b += _p_i(len(brokers))
        for br in brokers:
            b += _p_i(br.node_id)
            w_str(b, br.host)
            b += _p_i(br.port)
            if version >= 1:
                w_nstr(b, br.rack)
    if version >= 2:
        (w_ncstr if flexible else w_nstr)(b, response.cluster_id)
    if version >= 1:
        b += _p_i(response.controller_id)
    if topic_fragments is None:
        topic_fragments = [encode_metadata_topic(t, version) for t in response.topics]
    if flexible:
        write_uvarint(b, len(topic_fragments) + 1)
    else:
        b += _p_i(len(topic_fragments))
    b += b"".join(topic_fragments)
    if 8 <= version <= 10:
        b += _p_i(response.cluster_authorized_operations)
    if version >= 13:
        b += _p_h(response.error_code)
    if flexible:
        b.append(0)
    b[0:4] = _p_i(len(b) - 4)
    return [b]


class MetadataEncoder:
    """Encodes Metadata responses, keeping each topic's fragment per version.

    Fragments are keyed by the topic object's identity: callers that rebuild
    ``MetadataResponseTopic`` objects only when the metadata image changes (and
    drop this encoder, or call :meth:`clear`, when it does) get cached encodings.
    Not task-safe; one per metadata image.
    """

    __slots__ = ("_fragments",)

    def __init__(self) -> None:
        self._fragments: dict[tuple[int, int], tuple[Topic, bytes]] = {}

    def clear(self) -> None:
        self._fragments.clear()

    def fragment(self, topic: Topic, version: int) -> bytes:
        key = (id(topic), version)
        hit = self._fragments.get(key)
        if hit is not None and hit[0] is topic:
            return hit[1]
        data = encode_metadata_topic(topic, version)
        self._fragments[key] = (topic, data)  # keeps topic alive: its id stays unique
        return data

    def encode(self, header: RequestHeader, response: MetadataResponse,
               version: int | None = None) -> list[Chunk]:
        if version is None:
            version = header.request_api_version
        fragment = self.fragment
        return encode_metadata_response(
            header, response, [fragment(t, version) for t in response.topics], version)
