"""The remote tiers: Kafka's ``RemoteStorageManager`` for a directory and for S3.

A tier stores a segment's files as objects under one key layout, the one of Kafka's
``LocalTieredStorage`` (its ``RemoteTopicPartitionDirectory`` and
``RemoteLogSegmentFileset``)::

    <topic>-<partition>-<topic id>/<start offset, 20 digits>-<segment id><suffix>

with the suffixes ``.log``, ``.index``, ``.timeindex``, ``.txnindex``, ``.snapshot``
and ``.leader_epoch_checkpoint``. The ``local`` tier keeps them under
``<rsm.config.dir>/kafka-tiered-storage/``, so Kafka's tooling for LocalTieredStorage
reads what kafkapy wrote; the ``s3`` tier under ``<rsm.config.s3.prefix>`` in
``rsm.config.s3.bucket``, through ``obstore`` (Rust's ``object_store``: multipart
uploads, retries, ranged reads). S3 credentials come from the standard AWS environment
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_REGION``...) or ``rsm.config.s3.access.key.id`` / ``.secret.access.key``.

Every method blocks: the broker calls them from worker threads. Failures raise
:class:`RemoteStorageError` (Kafka's ``RemoteStorageException``), a missing object
:class:`RemoteResourceNotFoundError`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import shutil
from collections.abc import Mapping
from typing import Protocol

from kafkapy.storage.remote.metadata import RemoteLogSegmentMetadata, uuid_base64

#: Kafka's LocalTieredStorage root under its ``dir``.
LOCAL_TIERED_STORAGE_ROOT = "kafka-tiered-storage"
#: The tier properties (after ``remote.log.storage.manager.impl.prefix``).
LOCAL_DIR = "dir"
S3_BUCKET, S3_ENDPOINT, S3_REGION, S3_PREFIX = "s3.bucket", "s3.endpoint", "s3.region", "s3.prefix"
S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY = "s3.access.key.id", "s3.secret.access.key"


class RemoteStorageError(Exception):
    """The remote tier failed (``RemoteStorageException``): the store is unreachable,
    refused the request or answered with an error."""


class RemoteResourceNotFoundError(RemoteStorageError):
    """An object the metadata names is not in the store (``RemoteResourceNotFoundException``)."""


class IndexType(enum.Enum):
    """``RemoteStorageManager.IndexType``, with the file suffix of each."""

    OFFSET = ".index"
    TIMESTAMP = ".timeindex"
    PRODUCER_SNAPSHOT = ".snapshot"
    TRANSACTION = ".txnindex"
    LEADER_EPOCH = ".leader_epoch_checkpoint"


@dataclasses.dataclass(frozen=True, slots=True)
class LogSegmentData:
    """What a copy uploads (Kafka's ``LogSegmentData``): file paths, and the leader epoch
    checkpoint of the segment's range as bytes. No transaction index (None) when the
    segment has no aborted transaction, as Kafka's ``RemoteLogManager`` passes it."""

    log_segment: str
    offset_index: str
    time_index: str
    transaction_index: str | None
    producer_snapshot_index: str | None
    leader_epoch_index: bytes


class RemoteStorageManager(Protocol):
    """Kafka's ``RemoteStorageManager`` as kafkapy's tiers implement it."""

    def copy_log_segment_data(self, metadata: RemoteLogSegmentMetadata, data: LogSegmentData) -> None: ...

    def fetch_log_segment(self, metadata: RemoteLogSegmentMetadata, start_position: int,
                          end_position: int | None = None) -> bytes: ...

    def fetch_index(self, metadata: RemoteLogSegmentMetadata, index_type: IndexType) -> bytes: ...

    def delete_log_segment_data(self, metadata: RemoteLogSegmentMetadata) -> None: ...

    def describe(self) -> str: ...


def object_key(metadata: RemoteLogSegmentMetadata, suffix: str) -> str:
    """The key of one of a segment's files, relative to the tier's root."""
    sid = metadata.segment_id
    tp = sid.tp
    return f"{tp.topic}-{tp.partition}-{uuid_base64(tp.topic_id)}/{metadata.start_offset:020d}-{sid.id_base64}{suffix}"


_SUFFIXES = (".log",) + tuple(t.value for t in IndexType)


class LocalTieredStorage:
    """The ``local`` tier: a directory, as Kafka's ``LocalTieredStorage`` lays it out."""

    def __init__(self, directory: str) -> None:
        self.root = os.path.join(directory, LOCAL_TIERED_STORAGE_ROOT)
        os.makedirs(self.root, exist_ok=True)

    def describe(self) -> str:
        return f"local tier at {self.root}"

    def _path(self, metadata: RemoteLogSegmentMetadata, suffix: str) -> str:
        return os.path.join(self.root, object_key(metadata, suffix))

    def copy_log_segment_data(self, metadata: RemoteLogSegmentMetadata, data: LogSegmentData) -> None:
        try:
            os.makedirs(os.path.dirname(self._path(metadata, ".log")), exist_ok=True)
            for suffix, source in ((".log", data.log_segment), (".index", data.offset_index),
                                   (".timeindex", data.time_index), (".txnindex", data.transaction_index),
                                   (".snapshot", data.producer_snapshot_index)):
                if suffix == ".txnindex" and source is None:
                    continue  # as LocalTieredStorage: no transaction index, no file
                target = self._path(metadata, suffix)
                if source is None or not os.path.exists(source):
                    open(target + ".tmp", "wb").close()
                else:
                    shutil.copyfile(source, target + ".tmp")
                os.replace(target + ".tmp", target)
            target = self._path(metadata, ".leader_epoch_checkpoint")
            with open(target + ".tmp", "wb") as f:
                f.write(data.leader_epoch_index)
            os.replace(target + ".tmp", target)
        except OSError as exc:
            raise RemoteStorageError(f"copy of {object_key(metadata, '.log')} failed: {exc}") from exc

    def fetch_log_segment(self, metadata: RemoteLogSegmentMetadata, start_position: int,
                          end_position: int | None = None) -> bytes:
        return self._read(self._path(metadata, ".log"), start_position, end_position)

    def fetch_index(self, metadata: RemoteLogSegmentMetadata, index_type: IndexType) -> bytes:
        return self._read(self._path(metadata, index_type.value), 0, None)

    @staticmethod
    def _read(path: str, start: int, end: int | None) -> bytes:
        try:
            with open(path, "rb") as f:
                f.seek(start)
                return f.read() if end is None else f.read(max(end - start, 0))
        except FileNotFoundError as exc:
            raise RemoteResourceNotFoundError(f"{path} is not in the local tier") from exc
        except OSError as exc:
            raise RemoteStorageError(f"read of {path} failed: {exc}") from exc

    def delete_log_segment_data(self, metadata: RemoteLogSegmentMetadata) -> None:
        try:
            for suffix in _SUFFIXES:
                try:
                    os.unlink(self._path(metadata, suffix))
                except FileNotFoundError:
                    pass
            directory = os.path.dirname(self._path(metadata, ".log"))
            if os.path.isdir(directory) and not os.listdir(directory):
                os.rmdir(directory)
        except OSError as exc:
            raise RemoteStorageError(f"deletion of {object_key(metadata, '.log')} failed: {exc}") from exc


class S3RemoteStorage:
    """The ``s3`` tier: objects in an S3 bucket (or an S3-compatible server), through obstore."""

    def __init__(self, bucket: str, *, endpoint: str | None = None, region: str | None = None, prefix: str = "",
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 timeout_s: float = 30.0) -> None:
        from obstore.store import S3Store

        options: dict[str, object] = {}
        if endpoint:
            options["endpoint"] = endpoint
        if region:
            options["region"] = region
        if access_key_id:
            options["access_key_id"] = access_key_id
        if secret_access_key:
            options["secret_access_key"] = secret_access_key
        client = {"timeout": f"{timeout_s}s", "connect_timeout": "5s",
                  "allow_http": bool(endpoint and endpoint.startswith("http://"))}
        # A few quick retries: the copier retries a failed copy itself, with back-off.
        retry = {"max_retries": 2, "retry_timeout": _seconds(10),
                 "backoff": {"init_backoff": _seconds(0.1), "max_backoff": _seconds(1), "base": 2}}
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint = endpoint
        self.store = S3Store(bucket, client_options=client, retry_config=retry, virtual_hosted_style_request=False,
                             **options)

    def describe(self) -> str:
        return f"s3 tier s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint}" if self.endpoint else "")

    def _key(self, metadata: RemoteLogSegmentMetadata, suffix: str) -> str:
        return self.prefix + object_key(metadata, suffix)

    def copy_log_segment_data(self, metadata: RemoteLogSegmentMetadata, data: LogSegmentData) -> None:
        import obstore

        try:
            for suffix, source in ((".index", data.offset_index), (".timeindex", data.time_index),
                                   (".txnindex", data.transaction_index), (".snapshot", data.producer_snapshot_index)):
                if suffix == ".txnindex" and source is None:
                    continue
                body = b""
                if source is not None and os.path.exists(source):
                    with open(source, "rb") as f:
                        body = f.read()
                obstore.put(self.store, self._key(metadata, suffix), body)
            obstore.put(self.store, self._key(metadata, ".leader_epoch_checkpoint"), data.leader_epoch_index)
            # The segment last: its presence means the whole fileset is there.
            with open(data.log_segment, "rb") as f:
                obstore.put(self.store, self._key(metadata, ".log"), f)
        except OSError as exc:
            raise RemoteStorageError(f"copy of {self._key(metadata, '.log')} failed: {exc}") from exc
        except Exception as exc:  # obstore's errors (connection, HTTP status)
            raise _storage_error(exc, f"copy of {self._key(metadata, '.log')}") from exc

    def fetch_log_segment(self, metadata: RemoteLogSegmentMetadata, start_position: int,
                          end_position: int | None = None) -> bytes:
        import obstore

        key = self._key(metadata, ".log")
        try:
            end = end_position if end_position is not None else metadata.segment_size_in_bytes
            end = min(end, metadata.segment_size_in_bytes)
            if end <= start_position:
                return b""
            return bytes(obstore.get_range(self.store, key, start=start_position, end=end))
        except Exception as exc:
            raise _storage_error(exc, f"read of {key}") from exc

    def fetch_index(self, metadata: RemoteLogSegmentMetadata, index_type: IndexType) -> bytes:
        import obstore

        key = self._key(metadata, index_type.value)
        try:
            return bytes(obstore.get(self.store, key).bytes())
        except Exception as exc:
            raise _storage_error(exc, f"read of {key}") from exc

    def delete_log_segment_data(self, metadata: RemoteLogSegmentMetadata) -> None:
        import obstore

        keys = [self._key(metadata, suffix) for suffix in _SUFFIXES]
        try:
            for key in keys:
                obstore.delete(self.store, key)  # deleting a missing key is not an error in S3
        except Exception as exc:
            if _not_found(exc):
                return
            raise _storage_error(exc, f"deletion of {keys[0]}") from exc

    def list_keys(self) -> list[str]:
        """Every key under the prefix (tests and tools)."""
        import obstore

        try:
            return [meta["path"] for chunk in obstore.list(self.store, self.prefix or None) for meta in chunk]
        except Exception as exc:
            raise _storage_error(exc, "listing") from exc


def _seconds(s: float) -> object:
    import datetime

    return datetime.timedelta(seconds=s)


def _not_found(exc: Exception) -> bool:
    return type(exc).__name__ == "NotFoundError" or isinstance(exc, FileNotFoundError)


def _storage_error(exc: Exception, what: str) -> RemoteStorageError:
    if _not_found(exc):
        return RemoteResourceNotFoundError(f"{what}: not found")
    return RemoteStorageError(f"{what} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def create_storage_manager(kind: str, props: Mapping[str, str]) -> RemoteStorageManager:
    """The tier named by ``remote.log.storage.manager.class.name`` (already mapped to
    ``local`` or ``s3``), from its properties with the ``rsm.config.`` prefix removed.

    Raises ValueError naming the missing property.
    """
    if kind == "local":
        directory = props.get(LOCAL_DIR)
        if not directory:
            raise ValueError("the local remote tier needs its directory: set rsm.config.dir")
        return LocalTieredStorage(directory)
    if kind == "s3":
        bucket = props.get(S3_BUCKET)
        if not bucket:
            raise ValueError("the s3 remote tier needs a bucket: set rsm.config.s3.bucket")
        return S3RemoteStorage(bucket, endpoint=props.get(S3_ENDPOINT), region=props.get(S3_REGION),
                               prefix=props.get(S3_PREFIX, ""), access_key_id=props.get(S3_ACCESS_KEY_ID),
                               secret_access_key=props.get(S3_SECRET_ACCESS_KEY))
    raise ValueError(f"unknown remote tier {kind!r}; kafkapy has 'local' and 's3'")
