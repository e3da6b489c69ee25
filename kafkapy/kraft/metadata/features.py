"""Feature names and levels finalized in the metadata log.

``metadata.version`` levels are Kafka's ``MetadataVersion`` feature levels
(``server-common/.../MetadataVersion.java``): 3.3-IV3 is 7 (the oldest Kafka 4.x
accepts), 4.0-IV3 is 25, 4.1-IV1 is 27. Kafka 4.4's levels after 4.1 and what they
change (``MetadataVersion`` 4.4.0):

    28 4.2-IV0  ``share.version`` 1 is a new cluster's default (share groups, KIP-932)
    29 4.2-IV1  brokers send ListOffsets v11 to each other (KIP-1023); ``streams.version`` 1
    30 4.3-IV0  cordoned log directories (KIP-1066): RegisterBrokerRecord v4,
                BrokerRegistrationChangeRecord v3, BrokerHeartbeat v2
    31 4.4-IV0  ``share.version`` 2 is the default (renew acknowledgements, KIP-1222)
    32 4.4-IV1  CIDR blocks as ACL hosts
    33 4.4-IV2  controllers can be unregistered (UnregisterController, its record)

kafkapy supports up to 4.4-IV2, Kafka 4.4's latest production level: it answers
ListOffsets v11, matches CIDR blocks as ACL hosts (refused below 4.4-IV1) and serves
UnregisterController (refused below 4.4-IV2); it never cordons a log directory, so it
writes the 4.1-IV1 record versions, which every reader takes. A new cluster is
formatted at 4.1-IV1 unless ``--release-version`` asks for another level, so that
Kafka 4.1 nodes can still join a kafkapy quorum.
"""

from __future__ import annotations

METADATA_VERSION = "metadata.version"
KRAFT_VERSION = "kraft.version"
#: Kafka's ``TransactionVersion`` (KIP-890): 1 writes TransactionLogValue v1, 2 is the
#: transaction protocol of KIP-890 part 2 (epoch bump per transaction, partitions added
#: by the partition leader). Levels 1 and 2 need ``metadata.version`` 4.0-IV2 (23).
TRANSACTION_VERSION = "transaction.version"
TRANSACTION_VERSION_LATEST = 2
#: Kafka's ``GroupVersion`` (KIP-848): level 1 enables the consumer group protocol
#: (ConsumerGroupHeartbeat); it needs ``metadata.version`` 4.0-IV0 (22).
GROUP_VERSION = "group.version"
GROUP_VERSION_LATEST = 1
#: Kafka's ``ShareVersion`` (KIP-932): level 1 enables share groups (a cluster formatted
#: at ``metadata.version`` 4.2-IV0, 28, or later starts with it), level 2 is Kafka 4.4's
#: (4.4-IV0, 31: renew acknowledgements, KIP-1222).
SHARE_VERSION = "share.version"
SHARE_VERSION_LATEST = 2
#: Kafka's ``StreamsVersion`` (KIP-1071): level 1 enables streams groups
#: (StreamsGroupHeartbeat); a cluster formatted at 4.2-IV1 (29) or later starts with it.
STREAMS_VERSION = "streams.version"
STREAMS_VERSION_LATEST = 1

#: MetadataVersion.IBP_3_3_IV3, Kafka 4.x's MINIMUM_VERSION.
METADATA_VERSION_MIN = 7
#: MetadataVersion.IBP_4_1_IV1 (Kafka 4.1's LATEST_PRODUCTION).
METADATA_VERSION_4_1_IV1 = 27
#: MetadataVersion.IBP_4_4_IV1: CIDR blocks as ACL hosts.
METADATA_VERSION_4_4_IV1 = 32
#: MetadataVersion.IBP_4_4_IV2 (Kafka 4.4's LATEST_PRODUCTION): UnregisterController.
METADATA_VERSION_4_4_IV2 = 33
#: The highest level this node supports (BrokerRegistration, ApiVersions, ``--release-version``).
METADATA_VERSION_LATEST = METADATA_VERSION_4_4_IV2
#: The level a new cluster is formatted at when ``--release-version`` is not given.
METADATA_VERSION_DEFAULT = METADATA_VERSION_4_1_IV1

#: The feature ranges this node supports, as a broker reports them in
#: BrokerRegistration and ApiVersions: name -> (min level, max level).
SUPPORTED_FEATURES: dict[str, tuple[int, int]] = {
    METADATA_VERSION: (METADATA_VERSION_MIN, METADATA_VERSION_LATEST),
    # KIP-853: kafkapy reads and writes the voters in the log. A dynamic quorum finalises
    # level 1, and a Kafka controller refuses a broker or controller registration that
    # does not support it (UNSUPPORTED_VERSION). Not a FeatureLevelRecord: the Raft
    # layer's KRaftVersionRecord holds it, so UpdateFeatures leaves it alone.
    KRAFT_VERSION: (0, 1),
    TRANSACTION_VERSION: (0, TRANSACTION_VERSION_LATEST),
    GROUP_VERSION: (0, GROUP_VERSION_LATEST),
    SHARE_VERSION: (0, SHARE_VERSION_LATEST),
    STREAMS_VERSION: (0, STREAMS_VERSION_LATEST),
}
