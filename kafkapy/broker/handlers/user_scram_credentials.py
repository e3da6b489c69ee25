"""DescribeUserScramCredentials (key 50) v0 and AlterUserScramCredentials (key 51) v0
(KIP-554): ``kafka-configs --entity-type users --alter --add-config 'SCRAM-SHA-256=[...]'``.

Alter is a controller operation (:mod:`kafkapy.kraft.metadata.scram_control`),
answered once its records are committed; a broker that is not the active controller
forwards it (``FORWARDED_APIS``), as Kafka does. Describe is answered by the broker
from its metadata image, as Kafka's ``KafkaApis`` answers it from the metadata cache.

Authorization (CLUSTER ALTER / DESCRIBE) happens before the handler
(:mod:`kafkapy.broker.request_authorization`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.kraft.metadata.errors import NotControllerError
from kafkapy.kraft.metadata.scram_control import (
    ScramDeletion,
    ScramUpsertion,
    describe_user_scram_credentials,
)
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.alter_user_scram_credentials import (
        AlterUserScramCredentialsRequest,
        AlterUserScramCredentialsResponse,
    )
    from kafkapy.wire.messages.describe_user_scram_credentials import (
        DescribeUserScramCredentialsRequest,
        DescribeUserScramCredentialsResponse,
    )


@handles(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, versions=(0, 0))
def handle_describe_user_scram_credentials(
        ctx: RequestContext, request: DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse:
    from kafkapy.wire.messages.describe_user_scram_credentials import (
        DescribeUserScramCredentialsResponse as Response,
    )

    users = None if request.users is None else [u.name for u in request.users]
    return Response(error_code=ErrorCode.NONE, results=[
        Response.DescribeUserScramCredentialsResult(
            user=r.user, error_code=r.error.code, error_message=r.error.message,
            credential_infos=[Response.CredentialInfo(mechanism=m, iterations=i) for m, i in r.credential_infos])
        for r in describe_user_scram_credentials(ctx.broker.image, users)])


@handles(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, versions=(0, 0))
async def handle_alter_user_scram_credentials(
        ctx: RequestContext, request: AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse:
    from kafkapy.wire.messages.alter_user_scram_credentials import (
        AlterUserScramCredentialsResponse as Response,
    )

    deletions = [ScramDeletion(d.name, d.mechanism) for d in request.deletions]
    upsertions = [ScramUpsertion(u.name, u.mechanism, u.iterations, bytes(u.salt), bytes(u.salted_password))
                  for u in request.upsertions]
    try:
        results = await ctx.broker.metadata.alter_user_scram_credentials(deletions, upsertions)
    except NotControllerError as exc:
        names = dict.fromkeys([d.name for d in deletions] + [u.name for u in upsertions])
        return Response(results=[Response.AlterUserScramCredentialsResult(
            user=name, error_code=ErrorCode.NOT_CONTROLLER, error_message=str(exc) or None) for name in names])
    return Response(results=[Response.AlterUserScramCredentialsResult(
        user=r.user, error_code=r.error.code, error_message=r.error.message) for r in results])
