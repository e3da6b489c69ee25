"""SCRAM credentials in the metadata log (KIP-554; Kafka's ``ScramControlManager``
and ``ScramImage.describe``).

AlterUserScramCredentials carries, per user and mechanism, the salt and the salted
password the client computed (the password never leaves the client). The controller
keeps neither: it derives StoredKey and ServerKey and writes a
UserScramCredentialRecord; a deletion writes a RemoveUserScramCredentialRecord.
Brokers authenticate SCRAM clients from the image (``MetadataImage.scram_credentials``)
and answer DescribeUserScramCredentials from it.

Checks and messages are Kafka's: an empty user is UNACCEPTABLE_CREDENTIAL, an unknown
mechanism UNSUPPORTED_SASL_MECHANISM, fewer than 4096 or more than 16384 iterations
UNACCEPTABLE_CREDENTIAL, a user altered twice in one request DUPLICATE_RESOURCE, a
deletion of a credential that does not exist RESOURCE_NOT_FOUND. The records of one
request are written atomically. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import NamedTuple

from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.kraft.metadata.records import RemoveUserScramCredentialRecord, UserScramCredentialRecord
from kafkapy.kraft.metadata.results import NO_ERROR, ApiError, ControllerResult
from kafkapy.wire.error_codes import ErrorCode

#: SCRAM mechanism type id -> hash (``ScramMechanism``: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
SCRAM_HASHES = {1: "sha256", 2: "sha512"}
#: ``ScramMechanism.minIterations`` and ``ScramControlManager.MAX_ITERATIONS``.
MIN_ITERATIONS, MAX_ITERATIONS = 4096, 16384
#: ``ScramImage``'s describe messages.
DESCRIBE_USER_THAT_DOES_NOT_EXIST = "attemptToDescribeUserThatDoesNotExist: "
DESCRIBE_DUPLICATE_USER = "describeDuplicateUsers: "
_ALTERED_TWICE = "A user credential cannot be altered twice in the same request"


class ScramDeletion(NamedTuple):
    name: str
    mechanism: int


class ScramUpsertion(NamedTuple):
    name: str
    mechanism: int
    iterations: int
    salt: bytes
    salted_password: bytes


class UserResult(NamedTuple):
    """One user's answer: DescribeUserScramCredentials adds (mechanism, iterations) pairs."""

    user: str
    error: ApiError = NO_ERROR
    credential_infos: tuple[tuple[int, int], ...] = ()


def _check_user_and_mechanism(name: str, mechanism: int) -> ApiError:
    if not name:
        return ApiError(ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty")
    if mechanism not in SCRAM_HASHES:
        return ApiError(ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")
    return NO_ERROR


def _keys(mechanism: int, salted_password: bytes) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) from a salted password (RFC 5802 section 3)."""
    digest = SCRAM_HASHES[mechanism]
    client_key = hmac.new(salted_password, b"Client Key", digest).digest()
    return hashlib.new(digest, client_key).digest(), hmac.new(salted_password, b"Server Key", digest).digest()


def alter_user_scram_credentials(image: MetadataImage, deletions: Sequence[ScramDeletion],
                                 upsertions: Sequence[ScramUpsertion]) -> ControllerResult[list[UserResult]]:
    """AlterUserScramCredentials: records for the valid changes, an answer per user
    (deletions, then upsertions, then the users that failed, as Kafka orders them)."""
    errors: dict[str, ApiError] = {}
    to_delete: dict[str, ScramDeletion] = {}
    to_upsert: dict[str, ScramUpsertion] = {}
    for d in deletions:
        if d.name in errors:
            continue
        if to_delete.pop(d.name, None) is not None:
            errors[d.name] = ApiError(ErrorCode.DUPLICATE_RESOURCE, _ALTERED_TWICE)
            continue
        error = _check_user_and_mechanism(d.name, d.mechanism)
        if error is NO_ERROR and image.scram_credential(d.name, d.mechanism) is None:
            error = ApiError(ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist")
        if error is NO_ERROR:
            to_delete[d.name] = d
        else:
            errors[d.name] = error
    for u in upsertions:
        if u.name in errors:
            continue
        if to_delete.pop(u.name, None) is not None or to_upsert.pop(u.name, None) is not None:
            errors[u.name] = ApiError(ErrorCode.DUPLICATE_RESOURCE, _ALTERED_TWICE)
            continue
        error = _check_user_and_mechanism(u.name, u.mechanism)
        if error is NO_ERROR and u.iterations < MIN_ITERATIONS:
            error = ApiError(ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations")
        elif error is NO_ERROR and u.iterations > MAX_ITERATIONS:
            error = ApiError(ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations")
        if error is NO_ERROR:
            to_upsert[u.name] = u
        else:
            errors[u.name] = error
    records: list = []
    results: list[UserResult] = []
    for d in to_delete.values():
        records.append(RemoveUserScramCredentialRecord(name=d.name, mechanism=d.mechanism))
        results.append(UserResult(d.name))
    for u in to_upsert.values():
        stored_key, server_key = _keys(u.mechanism, u.salted_password)
        records.append(UserScramCredentialRecord(name=u.name, mechanism=u.mechanism, salt=u.salt,
                                                 stored_key=stored_key, server_key=server_key,
                                                 iterations=u.iterations))
        results.append(UserResult(u.name))
    results += [UserResult(name, error) for name, error in errors.items()]
    return ControllerResult(records, results)


def describe_user_scram_credentials(image: MetadataImage, users: Sequence[str] | None) -> list[UserResult]:
    """DescribeUserScramCredentials from the image: every user with a credential when
    ``users`` is None or empty; RESOURCE_NOT_FOUND for a user without one and
    DUPLICATE_RESOURCE for a user asked twice (``ScramImage.describe``)."""
    asked: dict[str, bool] = {}
    if not users:
        for by_user in image.scram_credentials.values():
            for user in by_user:
                asked[user] = False
    else:
        for user in users:
            asked[user] = user in asked
    results = []
    for user, duplicate in asked.items():
        if duplicate:
            results.append(UserResult(user, ApiError(ErrorCode.DUPLICATE_RESOURCE, DESCRIBE_DUPLICATE_USER + user)))
            continue
        infos = tuple((m, image.scram_credentials[m][user].iterations)
                      for m in sorted(image.scram_credentials) if user in image.scram_credentials[m])
        if infos:
            results.append(UserResult(user, NO_ERROR, infos))
        else:
            results.append(UserResult(user, ApiError(ErrorCode.RESOURCE_NOT_FOUND,
                                                     DESCRIBE_USER_THAT_DOES_NOT_EXIST + user)))
    return results
