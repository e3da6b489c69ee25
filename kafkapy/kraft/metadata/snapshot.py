"""An image as the list of records that rebuilds it: the data part of a KIP-630 snapshot.

``EMPTY_IMAGE.apply(image_records(image), offset=image.offset, epoch=image.epoch)``
equals ``image`` (the cluster id aside, which lives in ``meta.properties``). The Raft
layer wraps these records in the snapshot's header and footer control batches and
writes the ``<end offset>-<epoch>.checkpoint`` file.
"""

from __future__ import annotations

from kafkapy.kraft.metadata.features import METADATA_VERSION
from kafkapy.kraft.metadata.image import MetadataImage
from kafkapy.kraft.metadata.records import (
    AccessControlEntryRecord,
    BrokerEndpoint,
    ClientQuotaRecord,
    BrokerFeature,
    ConfigRecord,
    FeatureLevelRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    TopicRecord,
    UserScramCredentialRecord,
)


def image_records(image: MetadataImage) -> list:
    """Records for ``image`` in the order Kafka's ``MetadataImage.write`` uses: features
    (``metadata.version`` first), brokers and controllers (``ClusterImage``), topics and
    partitions, configs, producer ids, ACLs, SCRAM credentials, client quotas."""
    from kafkapy.wire.messages.cluster_metadata.register_controller_record import RegisterControllerRecord

    records: list = []
    features = sorted(image.features.items(), key=lambda kv: (kv[0] != METADATA_VERSION, kv[0]))
    records += [FeatureLevelRecord(name=name, feature_level=level) for name, level in features]
    for broker_id in sorted(image.brokers):
        b = image.brokers[broker_id]
        records.append(RegisterBrokerRecord(
            broker_id=b.id,
            incarnation_id=b.incarnation_id,
            broker_epoch=b.epoch,
            end_points=[BrokerEndpoint(name=e.name, host=e.host, port=e.port,
                                       security_protocol=e.security_protocol)
                        for e in b.endpoints.values()],
            features=[BrokerFeature(name=n, min_supported_version=lo, max_supported_version=hi)
                      for n, (lo, hi) in b.features.items()],
            rack=b.rack,
            fenced=b.fenced,
            in_controlled_shutdown=b.in_controlled_shutdown,
            log_dirs=list(b.log_dirs),
        ))
    for controller_id in sorted(image.controllers):
        c = image.controllers[controller_id]
        records.append(RegisterControllerRecord(
            controller_id=c.id, incarnation_id=c.incarnation_id, zk_migration_ready=c.zk_migration_ready,
            end_points=[RegisterControllerRecord.ControllerEndpoint(
                name=e.name, host=e.host, port=e.port, security_protocol=e.security_protocol)
                for e in c.endpoints.values()],
            features=[RegisterControllerRecord.ControllerFeature(
                name=n, min_supported_version=lo, max_supported_version=hi)
                for n, (lo, hi) in sorted(c.features.items())]))
    for name in sorted(image.topics_by_name):
        topic = image.topics_by_name[name]
        records.append(TopicRecord(name=topic.name, topic_id=topic.id))
        for index in sorted(topic.partitions):
            p = topic.partitions[index]
            records.append(PartitionRecord(
                partition_id=index,
                topic_id=topic.id,
                replicas=list(p.replicas),
                isr=list(p.isr),
                removing_replicas=list(p.removing_replicas),
                adding_replicas=list(p.adding_replicas),
                leader=p.leader,
                leader_recovery_state=int(p.leader_recovery_state),
                leader_epoch=p.leader_epoch,
                partition_epoch=p.partition_epoch,
                directories=list(p.directories),
                eligible_leader_replicas=list(p.elr) or None,
                last_known_elr=list(p.last_known_elr) or None,
            ))
    for (resource_type, resource_name) in sorted(image.configs):
        for name, value in sorted(image.configs[(resource_type, resource_name)].items()):
            records.append(ConfigRecord(resource_type=resource_type, resource_name=resource_name,
                                        name=name, value=value))
    if image.next_producer_id:
        records.append(ProducerIdsRecord(broker_id=-1, broker_epoch=-1,
                                         next_producer_id=image.next_producer_id))
    for acl_id, acl in image.acls.items():
        records.append(AccessControlEntryRecord(
            id=acl_id, resource_type=acl.resource_type, resource_name=acl.resource_name,
            pattern_type=acl.pattern_type, principal=acl.principal, host=acl.host,
            operation=acl.operation, permission_type=acl.permission_type))
    for mechanism in sorted(image.scram_credentials):
        for user, c in sorted(image.scram_credentials[mechanism].items()):
            records.append(UserScramCredentialRecord(name=user, mechanism=mechanism, salt=c.salt,
                                                     stored_key=c.stored_key, server_key=c.server_key,
                                                     iterations=c.iterations))
    for entity, keys in sorted(image.client_quotas.items(), key=lambda kv: repr(kv[0])):
        for key, value in sorted(keys.items()):
            records.append(ClientQuotaRecord(
                entity=[ClientQuotaRecord.EntityData(entity_type=t, entity_name=n) for t, n in entity],
                key=key, value=value, remove=False))
    return records
