"""DescribeClientQuotas (key 48) v0-1: answered with no entries.

kafkapy stores no client quotas yet (AlterClientQuotas is not served, so none can
exist), and an empty answer is the true one. ``kafka-configs --describe --entity-type
users`` needs it: it lists a user's quotas before its SCRAM credentials.

Not implemented: AlterClientQuotas, quota enforcement (issue 14, later part).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kafkapy.broker.context import RequestContext
from kafkapy.broker.registry import handles
from kafkapy.wire.apis import ApiKey
from kafkapy.wire.error_codes import ErrorCode

if TYPE_CHECKING:
    from kafkapy.wire.messages.describe_client_quotas import (
        DescribeClientQuotasRequest,
        DescribeClientQuotasResponse,
    )


@handles(ApiKey.DESCRIBE_CLIENT_QUOTAS, versions=(0, 1))
def handle_describe_client_quotas(ctx: RequestContext,
                                  request: DescribeClientQuotasRequest) -> DescribeClientQuotasResponse:
    from kafkapy.wire.messages.describe_client_quotas import DescribeClientQuotasResponse as Response

    return Response(error_code=ErrorCode.NONE, error_message=None, entries=[])
