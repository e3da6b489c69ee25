"""One module per API family; importing this package registers every handler.

The module list is the broker's API table (kfake's layout): each module opens with
its API key, versions and what is not implemented. Handlers that are not needed to
answer a client's first requests (ApiVersions, Metadata) import their message classes
when first called, so that a node starts answering sooner.
"""

from kafkapy.broker.handlers import (  # noqa: F401  (imported to register)
    acls,
    api_versions,
    client_quotas,
    config_resources,
    configs,
    controller,
    controller_registration,
    delegation_tokens,
    elect_leaders,
    envelope,
    features,
    fetch,
    find_coordinator,
    groups,
    log_admin,
    metadata,
    offset_commit,
    offsets,
    produce,
    producer_id,
    producers,
    raft,
    reassignments,
    replica_log_dirs,
    sasl,
    share_fetch,
    share_groups,
    share_offsets,
    share_state,
    streams_groups,
    topics,
    txn,
    unregister,
    user_scram_credentials,
)
