"""Streams groups of one ``__consumer_offsets`` partition: a shard of the coordinator runtime.

Kafka's ``GroupMetadataManager.streamsGroupHeartbeat`` and ``streamsGroupDescribe``
(KIP-1071). One StreamsGroupHeartbeat, in order:

1. validate (INVALID_REQUEST, ``throwIfStreamsGroupHeartbeatRequestIsInvalid``): group
   and member ids (the client makes its member id), a join (epoch 0) carries the
   topology, the rebalance timeout and the process id and owns no tasks; only a join
   carries a topology; epoch -1 leaves, -2 leaves as a static member;
2. a group id held by another group type answers GROUP_ID_NOT_FOUND ("is not a
   streams group"), as does an unknown group with epoch > 0; an unknown member with
   epoch > 0 is UNKNOWN_MEMBER_ID, an epoch
   that is neither the member's nor its previous one FENCED_MEMBER_EPOCH, a new member
   beyond ``group.streams.max.size`` GROUP_MAX_SIZE_REACHED;
3. the first member's topology becomes the group's (StreamsGroupTopology record); a
   joining member with another topology of the same or a newer epoch is INVALID_REQUEST
   ("Topology updates are not supported yet.", as Kafka 4.4's ``maybeUpdateTopology``),
   a member whose topology epoch is behind the group's gets the STALE_TOPOLOGY status;
4. the topology is configured against the image (:mod:`.topology`): missing source
   topics, wrongly partitioned or missing internal topics are statuses; missing
   internal topics are handed back to be created;
5. a new or leaving member, a new topology or changed metadata of the topics the
   topology names bumps the group epoch and the sticky assignor
   (:mod:`.assignor`) computes a new target; with the topology not ready the target
   is empty;
6. the member reconciles towards its target as Kafka's streams
   ``CurrentAssignmentBuilder``: tasks it must give up are revoked first (state
   UNREVOKED_TASKS, epoch unchanged, new standby and warm-up tasks given already)
   until it reports it no longer owns them; then it
   moves to the target epoch and gets the target's tasks, except active tasks another
   member still owns (state UNRELEASED_TASKS until they are released).

Every change is records (:mod:`.records`) written by the runtime and applied by
:meth:`StreamsGroupShard.replay`. Sessions (``group.streams.session.timeout.ms``) are
shard timers; a member whose session runs out is removed, as if it had left, and so is
a member that does not give its tasks up within its rebalance timeout. A member's
``ShutdownApplication`` makes every member's heartbeat carry the SHUTDOWN_APPLICATION
status until the group empties (kept in memory, as Kafka keeps it).

Initial rebalance delay (``group.streams.initial.rebalance.delay.ms``): the first
member of an empty group starts a shard timer; until it fires heartbeats answer the
ASSIGNMENT_DELAYED status and no tasks, then the timer computes the target for the
members that came meanwhile (Kafka 4.4's
``GroupMetadataManager.computeDelayedTargetAssignment``).

Topology descriptions (KIP-1331) are as Kafka 4.4 has them without a description
plugin (kafkapy runs none): never solicited; the group metadata record carries the
plugin epochs a Kafka with one wrote, as replayed.

Not implemented: warm-up tasks, rack-aware standby placement (client tags), the
assignment interval (each heartbeat that needs a target computes it), task offsets
and lags, static-member replacement (a static member leaving with -2 is removed like
any other).

Task-safety: trio thread only.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from kafkapy.broker.coordinator.shard import CoordinatorError, CoordinatorResult, KeyValue, ShardContext
from kafkapy.broker.groups.coordinator_topics import InternalTopic
from kafkapy.broker.groups.settings import group_value
from kafkapy.broker.streams.assignor import STICKY_ASSIGNOR, assign
from kafkapy.broker.streams.group import (
    EMPTY_TASKS,
    STABLE,
    UNRELEASED_TASKS,
    UNREVOKED_TASKS,
    StreamsGroup,
    StreamsMember,
    replay,
)
from kafkapy.broker.streams.records import (
    Tasks,
    current_assignment_record,
    decode_streams_record,
    group_metadata_record,
    group_tombstones,
    member_metadata_record,
    member_tombstones,
    target_epoch_record,
    target_member_record,
    task_ids,
    task_set,
    topology_record,
)
from kafkapy.broker.streams.topology import (
    ASSIGNMENT_DELAYED,
    SHUTDOWN_APPLICATION,
    STALE_TOPOLOGY,
    ConfiguredTopology,
    configure,
    metadata_hash,
)
from kafkapy.wire.error_codes import ErrorCode
from kafkapy.wire.messages.streams_group_describe import StreamsGroupDescribeResponse
from kafkapy.wire.messages.streams_group_heartbeat import StreamsGroupHeartbeatRequest, StreamsGroupHeartbeatResponse
from kafkapy.wire.messages.streams_group_topology_value import StreamsGroupTopologyValue

log = logging.getLogger(__name__)

LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2
Response = StreamsGroupHeartbeatResponse


@dataclasses.dataclass(slots=True)
class HeartbeatOutcome:
    """A heartbeat's answer and the internal topics to create (the service creates them)."""

    response: StreamsGroupHeartbeatResponse
    to_create: list[InternalTopic] = dataclasses.field(default_factory=list)


def _minus(a: Tasks, b: Tasks) -> Tasks:
    def diff(x: Any, y: Any) -> dict[str, frozenset[int]]:
        out = {s: frozenset(ps - y.get(s, frozenset())) for s, ps in x.items()}
        return {s: ps for s, ps in out.items() if ps}
    return Tasks(diff(a.active, b.active), diff(a.standby, b.standby), diff(a.warmup, b.warmup))


def _intersect(a: Tasks, b: Tasks) -> Tasks:
    def inter(x: Any, y: Any) -> dict[str, frozenset[int]]:
        out = {s: frozenset(ps & y.get(s, frozenset())) for s, ps in x.items()}
        return {s: ps for s, ps in out.items() if ps}
    return Tasks(inter(a.active, b.active), inter(a.standby, b.standby), inter(a.warmup, b.warmup))


def _empty(t: Tasks) -> bool:
    return not (t.active or t.standby or t.warmup)


def _epochs(tasks: Tasks, old: Any, epoch: int) -> dict[tuple[str, int], int]:
    """Assignment epochs of ``tasks``' active tasks: a task kept keeps its epoch, a new one gets ``epoch``."""
    return {(s, p): old.get((s, p), epoch) for s, ps in tasks.active.items() for p in ps}


def _norm(t: Tasks) -> Tasks:
    return Tasks(*({s: ps for s, ps in part.items() if ps} for part in t))


def topology_value(t: StreamsGroupHeartbeatRequest.Topology) -> StreamsGroupTopologyValue:
    """The request's topology as the StreamsGroupTopology record holds it."""
    V = StreamsGroupTopologyValue

    def info(i: Any) -> Any:
        return V.TopicInfo(name=i.name, partitions=i.partitions, replication_factor=i.replication_factor,
                           topic_configs=[V.TopicConfig(key=c.key, value=c.value) for c in i.topic_configs])

    return V(epoch=t.epoch, subtopologies=[V.Subtopology(
        subtopology_id=s.subtopology_id, source_topics=list(s.source_topics),
        source_topic_regex=list(s.source_topic_regex),
        state_changelog_topics=[info(i) for i in s.state_changelog_topics],
        repartition_sink_topics=list(s.repartition_sink_topics),
        repartition_source_topics=[info(i) for i in s.repartition_source_topics],
        copartition_groups=[V.CopartitionGroup(source_topics=list(g.source_topics),
                                               source_topic_regex=list(g.source_topic_regex),
                                               repartition_source_topics=list(g.repartition_source_topics))
                            for g in s.copartition_groups]) for s in t.subtopologies])


def topology_topics(topology: StreamsGroupTopologyValue | None, configured: ConfiguredTopology | None) -> set[str]:
    """Every topic name the topology depends on (its metadata is hashed)."""
    if topology is None:
        return set()
    names = set(configured.source_topics) if configured is not None else set()
    for s in topology.subtopologies:
        names.update(s.source_topics)
        names.update(i.name for i in s.repartition_source_topics)
        names.update(i.name for i in s.state_changelog_topics)
    return names


class StreamsGroupShard:
    """The streams groups of one ``__consumer_offsets`` partition (see the module doc).

    Args:
        context: the runtime's view for this partition.
        other_group: True when a classic, consumer or share group holds a group id.
    """

    def __init__(self, context: ShardContext, other_group: Callable[[str], bool] = lambda _: False) -> None:
        self.context = context
        self.other_group = other_group
        self.groups: dict[str, StreamsGroup] = {}
        config = context.config
        self.max_size: int = config.group_streams_max_size
        self.task_offset_interval_ms: int = config.group_streams_task_offset_interval_ms
        self.acceptable_recovery_lag: int = config.group_streams_acceptable_recovery_lag
        #: (group, member) -> tasks the member last said it owns (transient, as Kafka's)
        self.reported: dict[tuple[str, str], Tasks] = {}
        #: group -> (endpoint epoch, endpoint map) last answered (transient)
        self.endpoints: dict[str, tuple[int, Any]] = {}
        #: group -> the member that asked the whole application to shut down (transient, as Kafka's)
        self.shutdown_requests: dict[str, str] = {}

    def _setting(self, group_id: str, name: str) -> int:
        """A streams.* group config of a group: its own, else the broker's."""
        return group_value(self.context.image(), self.context.config, group_id, name)

    # --- the runtime's side -----------------------------------------------------------------

    def replay(self, offset: int, producer_id: int, key: bytes, value: bytes | None) -> None:
        rec = decode_streams_record(key, value)
        if rec is not None:
            replay(self.groups, rec)

    def replay_end_transaction(self, producer_id: int, commit: bool) -> None:
        pass

    def on_loaded(self) -> None:
        for group in self.groups.values():
            if group.topology is not None:
                group.ready = configure(group.topology, self.context.image()).ready
            for member_id, member in group.members.items():
                self._schedule_session(group.group_id, member_id)
                self._schedule_rebalance_timeout(group.group_id, member)

    def on_unloaded(self) -> None:
        self.groups.clear()
        self.reported.clear()
        self.shutdown_requests.clear()

    # --- StreamsGroupHeartbeat ----------------------------------------------------------------

    def heartbeat(self, r: StreamsGroupHeartbeatRequest, client_id: str,
                  client_host: str) -> CoordinatorResult[HeartbeatOutcome]:
        """One heartbeat (see the module doc).

        Raises:
            CoordinatorError: the error to answer.
        """
        self._validate(r)
        if self.other_group(r.group_id):
            raise CoordinatorError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {r.group_id} is not a streams group.")
        group = self.groups.get(r.group_id)
        if r.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
            return self._leave(group, r)
        if group is None:
            if r.member_epoch != 0:
                raise CoordinatorError(ErrorCode.GROUP_ID_NOT_FOUND, f"Streams group {r.group_id} not found.")
            group = StreamsGroup(r.group_id)
        member = self._member(group, r)
        is_new = member.member_id not in group.members
        if is_new and len(group.members) >= self.max_size:
            raise CoordinatorError(ErrorCode.GROUP_MAX_SIZE_REACHED,
                                   f"The streams group has reached its maximum capacity of {self.max_size} members.")
        records: list[KeyValue] = []
        statuses: list[tuple[int, str]] = []
        topology = group.topology
        new_topology = False
        if r.topology is not None:
            requested = topology_value(r.topology)
            if topology is None:
                topology = requested
                records.append(topology_record(group.group_id, topology))
                new_topology = True
            elif r.topology.epoch >= topology.epoch and requested.to_bytes(0) != topology.to_bytes(0):
                raise CoordinatorError(ErrorCode.INVALID_REQUEST, "Topology updates are not supported yet.")
        endpoint = None if r.user_endpoint is None else (r.user_endpoint.host, r.user_endpoint.port)
        updated = dataclasses.replace(
            member, client_id=client_id, client_host=client_host,
            instance_id=member.instance_id if r.instance_id is None else r.instance_id,
            rack_id=member.rack_id if r.rack_id is None else r.rack_id,
            rebalance_timeout_ms=member.rebalance_timeout_ms if r.rebalance_timeout_ms == -1
            else r.rebalance_timeout_ms,
            topology_epoch=member.topology_epoch if r.topology is None else r.topology.epoch,
            process_id=member.process_id if r.process_id is None else r.process_id,
            user_endpoint=member.user_endpoint if r.user_endpoint is None else endpoint,
            client_tags=member.client_tags if r.client_tags is None
            else tuple((kv.key, kv.value) for kv in r.client_tags))
        if is_new or updated.identity() != member.identity():
            records.append(member_metadata_record(group.group_id, updated))
        if topology is not None and updated.topology_epoch < topology.epoch:
            statuses.append((STALE_TOPOLOGY, f"The member's topology epoch {updated.topology_epoch} is behind the "
                                             f"group's topology epoch {topology.epoch}."))
        key = (group.group_id, updated.member_id)
        if r.member_epoch == 0:
            self.reported[key] = EMPTY_TASKS
        elif r.active_tasks is not None or r.standby_tasks is not None or r.warmup_tasks is not None:
            old = self.reported.get(key, EMPTY_TASKS)
            self.reported[key] = _norm(Tasks(
                old.active if r.active_tasks is None else task_set(r.active_tasks),
                old.standby if r.standby_tasks is None else task_set(r.standby_tasks),
                old.warmup if r.warmup_tasks is None else task_set(r.warmup_tasks)))
        members = {**group.members, updated.member_id: updated}
        configured, to_create = self._configure(topology)
        self._validate_tasks(configured, r)
        target, assignment_epoch = self._maybe_bump(group, members, topology, configured, records, statuses,
                                                    force=is_new or new_topology)
        if configured is not None:
            # After ASSIGNMENT_DELAYED, as Kafka 4.4 lists them (the topology's come with the response).
            statuses.extend(configured.status)
        nxt = self._reconcile(group, updated, target.get(updated.member_id, EMPTY_TASKS), assignment_epoch,
                              self.reported.get(key))
        changed = (nxt.member_epoch, nxt.previous_member_epoch, nxt.state, _norm(nxt.assigned),
                   _norm(nxt.pending_revocation)) != (updated.member_epoch, updated.previous_member_epoch,
                                                      updated.state, _norm(updated.assigned),
                                                      _norm(updated.pending_revocation))
        if is_new or changed:
            records.append(current_assignment_record(
                group.group_id, nxt.member_id, member_epoch=nxt.member_epoch,
                previous_member_epoch=nxt.previous_member_epoch, state=nxt.state, assigned=nxt.assigned,
                pending=nxt.pending_revocation, active_epochs=nxt.active_epochs))
        self._schedule_session(group.group_id, nxt.member_id)
        self._schedule_rebalance_timeout(group.group_id, nxt)
        if r.shutdown_application:
            self.shutdown_requests[group.group_id] = nxt.member_id
        requester = self.shutdown_requests.get(group.group_id)
        if requester is not None:
            statuses.append((SHUTDOWN_APPLICATION, f"Streams group member {requester} encountered a fatal error and "
                                                   "requested a shutdown for the entire application."))
        R = StreamsGroupHeartbeatResponse
        response = R(error_code=ErrorCode.NONE, member_id=nxt.member_id, member_epoch=nxt.member_epoch,
                     heartbeat_interval_ms=self._setting(group.group_id, "streams.heartbeat.interval.ms"),
                     # v0's AcceptableRecoveryLagLegacy stays 0, as Kafka 4.4 answers it
                     acceptable_recovery_lag=self.acceptable_recovery_lag,
                     task_offset_interval_ms=self.task_offset_interval_ms,
                     status=[R.Status(status_code=c, status_detail=d) for c, d in statuses])
        if r.member_epoch == 0 or _norm(nxt.assigned) != _norm(updated.assigned):
            response.active_tasks = task_ids(R.TaskIds, nxt.assigned.active)
            response.standby_tasks = task_ids(R.TaskIds, nxt.assigned.standby)
            response.warmup_tasks = task_ids(R.TaskIds, nxt.assigned.warmup)
        self._endpoints(group, members, topology, r, response)
        return CoordinatorResult(records, HeartbeatOutcome(response, to_create))

    @staticmethod
    def _validate(r: StreamsGroupHeartbeatRequest) -> None:
        """``throwIfStreamsGroupHeartbeatRequestIsInvalid``."""
        def invalid(message: str) -> CoordinatorError:
            return CoordinatorError(ErrorCode.INVALID_REQUEST, message)

        if not r.member_id:
            raise invalid("MemberId can't be empty.")
        if not r.group_id:
            raise invalid("GroupId can't be empty.")
        if r.instance_id == "":
            raise invalid("InstanceId can't be empty.")
        if r.rack_id == "":
            raise invalid("RackId can't be empty.")
        if r.member_epoch == 0:
            if r.rebalance_timeout_ms == -1:
                raise invalid("RebalanceTimeoutMs must be provided in first request.")
            if r.topology is None:
                raise invalid("Topology must be non-null when (re-)joining.")
            if not r.process_id:
                raise invalid("ProcessId can't be empty.")
            if r.active_tasks or r.standby_tasks or r.warmup_tasks:
                raise invalid("ActiveTasks, StandbyTasks and WarmupTasks must be empty when (re-)joining.")
        elif r.member_epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise invalid(f"MemberEpoch is {r.member_epoch}, but must be greater than or equal to -2.")
        elif r.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH and r.instance_id is None:
            raise invalid("InstanceId can't be null when leaving with epoch -2.")
        elif r.topology is not None:
            raise invalid("Topology can only be provided when (re-)joining.")

    @staticmethod
    def _member(group: StreamsGroup, r: StreamsGroupHeartbeatRequest) -> StreamsMember:
        existing = group.members.get(r.member_id)
        if r.member_epoch == 0:
            return existing or StreamsMember(r.member_id)
        if existing is None:
            raise CoordinatorError(ErrorCode.UNKNOWN_MEMBER_ID,
                                   f"Member {r.member_id} is not a member of group {group.group_id}.")
        if r.member_epoch not in (existing.member_epoch, existing.previous_member_epoch):
            raise CoordinatorError(ErrorCode.FENCED_MEMBER_EPOCH,
                                   f"The streams group member has a different epoch ({r.member_epoch}) "
                                   f"than the expected one ({existing.member_epoch}).")
        if r.member_epoch != existing.member_epoch:
            # The previous epoch is accepted only from a member that owns nothing beyond
            # its assignment (its answer to the last heartbeat may have been lost).
            owned = [(r.active_tasks, existing.assigned.active), (r.standby_tasks, existing.assigned.standby),
                     (r.warmup_tasks, existing.assigned.warmup)]
            if any(tasks is not None and any(frozenset(t.partitions) - assigned.get(t.subtopology_id, frozenset())
                                             for t in tasks) for tasks, assigned in owned):
                raise CoordinatorError(ErrorCode.FENCED_MEMBER_EPOCH, (
                    f"The streams group member has a smaller member epoch ({r.member_epoch}) than the one known "
                    f"by the group coordinator ({existing.member_epoch}). The member must abandon all its "
                    "partitions and rejoin."))
        return existing

    @staticmethod
    def _validate_tasks(configured: ConfiguredTopology | None, r: StreamsGroupHeartbeatRequest) -> None:
        """``throwIfRequestContainsInvalidTasks``: owned tasks must exist in the ready topology."""
        if configured is None or configured.partitions is None:
            return
        for tasks in (r.active_tasks, r.standby_tasks, r.warmup_tasks):
            for t in tasks or ():
                n = configured.partitions.get(t.subtopology_id)
                if n is None:
                    raise CoordinatorError(ErrorCode.INVALID_REQUEST,
                                           f"Subtopology {t.subtopology_id} does not exist in the topology.")
                for p in t.partitions:
                    if p < 0 or p >= n:
                        raise CoordinatorError(ErrorCode.INVALID_REQUEST, (
                            f"Task {p} for subtopology {t.subtopology_id} is invalid. Number of tasks for this "
                            f"subtopology: {n}"))

    def _configure(self, topology: StreamsGroupTopologyValue | None
                   ) -> tuple[ConfiguredTopology | None, list[InternalTopic]]:
        if topology is None:
            return None, []
        configured = configure(topology, self.context.image())
        return configured, list(configured.to_create)

    def _maybe_bump(self, group: StreamsGroup, members: dict[str, StreamsMember],
                    topology: StreamsGroupTopologyValue | None, configured: ConfiguredTopology | None,
                    records: list[KeyValue], statuses: list[tuple[int, str]], *,
                    force: bool) -> tuple[dict[str, Tasks], int]:
        """Bump the group epoch if asked or if the topology's topics changed, then
        compute a new target unless the initial rebalance delay runs (ASSIGNMENT_DELAYED
        in ``statuses``); records go to ``records``. Returns the target and the
        assignment epoch after the records."""
        ready = configured is not None and configured.ready
        group.ready = ready
        new_hash = metadata_hash(self.context.image(), topology_topics(topology, configured)) if topology else 0
        epoch = group.group_epoch
        validated = topology.epoch if ready and topology is not None else group.validated_topology_epoch
        if force or new_hash != group.metadata_hash or validated != group.validated_topology_epoch:
            epoch += 1
            records.append(group_metadata_record(group.group_id, epoch, new_hash, validated,
                                                 description_epochs=group.description_epochs))
            if not group.members and self._setting(group.group_id, "streams.initial.rebalance.delay.ms") > 0:
                self._schedule_initial_rebalance(group.group_id)
        if self.context.timer.is_scheduled(("streams-initial-rebalance", group.group_id)):
            statuses.append((ASSIGNMENT_DELAYED, "Assignment delayed due to the configured initial rebalance delay."))
            return {}, group.assignment_epoch
        if epoch <= group.assignment_epoch:
            return group.target, group.assignment_epoch
        return self._assign(group, members, topology, configured, records, epoch), epoch

    def _schedule_initial_rebalance(self, group_id: str) -> None:
        """The first assignment of a new group waits for more members (Kafka's
        ``streamsInitialRebalanceKey`` timer, scheduled if absent)."""
        key = ("streams-initial-rebalance", group_id)
        if self.context.timer.is_scheduled(key):
            return

        def fire(shard: StreamsGroupShard) -> CoordinatorResult[None] | None:
            group = shard.groups.get(group_id)
            if group is None or not group.members or group.group_epoch <= group.assignment_epoch:
                return None
            configured, _ = shard._configure(group.topology)
            if configured is None:
                return None
            records: list[KeyValue] = []
            shard._assign(group, group.members, group.topology, configured, records, group.group_epoch)
            return CoordinatorResult(records, None)

        self.context.timer.schedule(key, self._setting(group_id, "streams.initial.rebalance.delay.ms"), fire)

    def _assign(self, group: StreamsGroup, members: dict[str, StreamsMember],
                topology: StreamsGroupTopologyValue | None, configured: ConfiguredTopology | None,
                records: list[KeyValue], epoch: int) -> dict[str, Tasks]:
        """A new target at ``epoch``: its records go to ``records``."""
        ready = configured is not None and configured.ready
        if ready and configured is not None and configured.partitions is not None and topology is not None:
            stateful = {s.subtopology_id for s in topology.subtopologies if s.state_changelog_topics}
            target = assign(members, configured.partitions, stateful,
                            self._setting(group.group_id, "streams.num.standby.replicas"))
        else:
            target = {m: EMPTY_TASKS for m in members}
        for member_id, tasks in sorted(target.items()):
            if member_id not in group.target or _norm(group.target[member_id]) != _norm(tasks):
                records.append(target_member_record(group.group_id, member_id, tasks))
        records.append(target_epoch_record(group.group_id, epoch, self.context.now_ms()))
        log.info("Computed target assignment of streams group %s at epoch %d", group.group_id, epoch)
        return target

    @staticmethod
    def _reconcile(group: StreamsGroup, member: StreamsMember, target: Tasks, target_epoch: int,
                   reported: Tasks | None) -> StreamsMember:
        """The streams ``CurrentAssignmentBuilder``: the member's next state."""
        if member.state == UNREVOKED_TASKS:
            pending = member.pending_revocation
            if reported is None or not _empty(_intersect(pending, reported)):
                return member
        elif member.member_epoch == target_epoch and member.state == STABLE:
            return member
        revoke = _minus(member.assigned, target)
        if not _empty(revoke):
            # Active tasks wait for the revocation; new standby and warm-up tasks come at
            # once (as Kafka 4.4 answers: the standbys of the tasks being given up included).
            kept = _norm(Tasks(_intersect(member.assigned, target).active, target.standby, target.warmup))
            return dataclasses.replace(member, state=UNREVOKED_TASKS, assigned=kept, pending_revocation=revoke,
                                       active_epochs=_epochs(kept, member.active_epochs, member.member_epoch))
        owners = group.active_owners(member.member_id)
        unreleased = {s: frozenset(p for p in ps if (s, p) in owners) for s, ps in target.active.items()}
        unreleased = {s: ps for s, ps in unreleased.items() if ps}
        assigned = _norm(Tasks(_minus(Tasks(target.active, {}, {}), Tasks(unreleased, {}, {})).active,
                               target.standby, target.warmup))
        previous = member.member_epoch if member.member_epoch != target_epoch else member.previous_member_epoch
        return dataclasses.replace(member, member_epoch=target_epoch, previous_member_epoch=previous,
                                   state=UNRELEASED_TASKS if unreleased else STABLE, assigned=assigned,
                                   pending_revocation=EMPTY_TASKS,
                                   active_epochs=_epochs(assigned, member.active_epochs, target_epoch))

    def _leave(self, group: StreamsGroup | None, r: StreamsGroupHeartbeatRequest
               ) -> CoordinatorResult[HeartbeatOutcome]:
        member = group.members.get(r.member_id) if group is not None else None
        if group is None or member is None:
            raise CoordinatorError(ErrorCode.UNKNOWN_MEMBER_ID,
                                   f"Member {r.member_id} is not a member of group {r.group_id}.")
        log.info("Member %s left streams group %s", r.member_id, r.group_id)
        self.context.timer.cancel(("streams-session", r.group_id, r.member_id))
        return CoordinatorResult(self._remove(group, r.member_id), HeartbeatOutcome(Response(
            error_code=ErrorCode.NONE, member_id=r.member_id, member_epoch=r.member_epoch)))

    def _remove(self, group: StreamsGroup, member_id: str) -> list[KeyValue]:
        records = member_tombstones(group.group_id, member_id)
        self.reported.pop((group.group_id, member_id), None)
        self.context.timer.cancel(("streams-rebalance", group.group_id, member_id))
        if len(group.members) <= 1:
            self.shutdown_requests.pop(group.group_id, None)  # the group empties: a new application may start
        members = {m: v for m, v in group.members.items() if m != member_id}
        configured, _ = self._configure(group.topology)
        self._maybe_bump(group, members, group.topology, configured, records, [], force=True)
        return records

    def _endpoints(self, group: StreamsGroup, members: dict[str, StreamsMember],
                   topology: StreamsGroupTopologyValue | None, r: StreamsGroupHeartbeatRequest,
                   response: StreamsGroupHeartbeatResponse) -> None:
        """Interactive queries (KIP-1071): which partitions each user endpoint hosts,
        sent when the member's endpoint information epoch is behind the group's."""
        R = StreamsGroupHeartbeatResponse
        if topology is None or not any(m.user_endpoint for m in members.values()):
            response.endpoint_information_epoch = self.endpoints.get(group.group_id, (0, None))[0]
            return
        topics = {s.subtopology_id: sorted(set(s.source_topics) | {i.name for i in s.repartition_source_topics})
                  for s in topology.subtopologies}

        def partitions(tasks: Any) -> list[Any]:
            by_topic: dict[str, set[int]] = {}
            for s, ps in tasks.items():
                for t in topics.get(s, ()):
                    by_topic.setdefault(t, set()).update(ps)
            return [R.TopicPartition(topic=t, partitions=sorted(ps)) for t, ps in sorted(by_topic.items())]

        mapping = [R.EndpointToPartitions(user_endpoint=R.Endpoint(host=m.user_endpoint[0], port=m.user_endpoint[1]),
                                          active_partitions=partitions(m.assigned.active),
                                          standby_partitions=partitions(m.assigned.standby))
                   for _, m in sorted(members.items()) if m.user_endpoint is not None]
        key = repr([(e.user_endpoint.host, e.user_endpoint.port, [(p.topic, p.partitions) for p in e.active_partitions],
                     [(p.topic, p.partitions) for p in e.standby_partitions]) for e in mapping])
        epoch, last = self.endpoints.get(group.group_id, (0, None))
        if last != key:
            epoch += 1
            self.endpoints[group.group_id] = (epoch, key)
        response.endpoint_information_epoch = epoch
        if r.endpoint_information_epoch != epoch:
            response.partitions_by_user_endpoint = mapping

    # --- sessions ------------------------------------------------------------------------------

    def _schedule_rebalance_timeout(self, group_id: str, member: StreamsMember) -> None:
        """A member told to give tasks up has its rebalance timeout to do so, or it is
        removed (Kafka's ``scheduleStreamsGroupRebalanceTimeout``)."""
        key = ("streams-rebalance", group_id, member.member_id)
        if member.state != UNREVOKED_TASKS:
            self.context.timer.cancel(key)
            return
        if self.context.timer.is_scheduled(key):
            return
        epoch = member.member_epoch

        def expire(shard: StreamsGroupShard) -> CoordinatorResult[None] | None:
            group = shard.groups.get(group_id)
            current = group.members.get(member.member_id) if group is not None else None
            if group is None or current is None or current.state != UNREVOKED_TASKS or current.member_epoch != epoch:
                return None
            log.info("Member %s of streams group %s did not revoke its tasks within %d ms; removing it",
                     member.member_id, group_id, current.rebalance_timeout_ms)
            shard.context.timer.cancel(("streams-session", group_id, member.member_id))
            return CoordinatorResult(shard._remove(group, member.member_id), None)

        timeout = member.rebalance_timeout_ms if member.rebalance_timeout_ms > 0 else \
            self._setting(group_id, "streams.session.timeout.ms")
        self.context.timer.schedule(key, timeout, expire)

    def _schedule_session(self, group_id: str, member_id: str) -> None:
        def expire(shard: StreamsGroupShard) -> CoordinatorResult[None] | None:
            group = shard.groups.get(group_id)
            if group is None or member_id not in group.members:
                return None
            log.info("Member %s of streams group %s failed its session timeout; removing it", member_id, group_id)
            return CoordinatorResult(shard._remove(group, member_id), None)

        self.context.timer.schedule(("streams-session", group_id, member_id),
                                    self._setting(group_id, "streams.session.timeout.ms"), expire)

    # --- reads and deletion --------------------------------------------------------------------

    def describe(self, group_id: str) -> StreamsGroupDescribeResponse.DescribedGroup:
        """StreamsGroupDescribe of one group (``StreamsGroup.asDescribedGroup``)."""
        D = StreamsGroupDescribeResponse
        group = self.groups.get(group_id)
        if group is None:
            message = f"Group {group_id} is not a streams group." if self.other_group(group_id) \
                else f"Group {group_id} not found."
            return D.DescribedGroup(error_code=ErrorCode.GROUP_ID_NOT_FOUND, error_message=message, group_id=group_id)

        # A ready topology is described as configured (Kafka's ConfiguredTopology): the
        # partition counts of its internal topics resolved.
        configured = configure(group.topology, self.context.image()) if group.topology is not None else None

        def info(i: Any, partitions: int | None = None) -> Any:
            return D.TopicInfo(name=i.name, partitions=partitions or i.partitions,
                               replication_factor=i.replication_factor,
                               topic_configs=[D.KeyValue(key=c.key, value=c.value) for c in i.topic_configs])

        def changelog_count(s: Any) -> int | None:
            return None if configured is None or configured.partitions is None \
                else configured.partitions.get(s.subtopology_id)

        def repartition_count(i: Any) -> int | None:
            return None if configured is None or configured.partitions is None else configured.repartition.get(i.name)

        topology = None
        if group.topology is not None:
            topology = D.Topology(epoch=group.topology.epoch, subtopologies=[D.Subtopology(
                subtopology_id=s.subtopology_id, source_topics=list(s.source_topics),
                repartition_sink_topics=list(s.repartition_sink_topics),
                state_changelog_topics=[info(i, changelog_count(s)) for i in s.state_changelog_topics],
                repartition_source_topics=[info(i, repartition_count(i)) for i in s.repartition_source_topics])
                for s in group.topology.subtopologies])

        def assignment(t: Tasks) -> Any:
            return D.Assignment(active_tasks=task_ids(D.TaskIds, t.active),
                                standby_tasks=task_ids(D.TaskIds, t.standby),
                                warmup_tasks=task_ids(D.TaskIds, t.warmup))

        members = [D.Member(member_id=m.member_id, member_epoch=m.member_epoch, instance_id=m.instance_id,
                            rack_id=m.rack_id, client_id=m.client_id, client_host=m.client_host,
                            topology_epoch=m.topology_epoch, process_id=m.process_id,
                            user_endpoint=None if m.user_endpoint is None
                            else D.Endpoint(host=m.user_endpoint[0], port=m.user_endpoint[1]),
                            client_tags=[D.KeyValue(key=k, value=v) for k, v in m.client_tags],
                            assignment=assignment(m.assigned),
                            target_assignment=assignment(group.target.get(m.member_id, EMPTY_TASKS)))
                   for _, m in sorted(group.members.items())]
        return D.DescribedGroup(error_code=ErrorCode.NONE, group_id=group_id, group_state=group.state,
                                group_epoch=group.group_epoch, assignment_epoch=group.assignment_epoch,
                                topology=topology, members=members, assignor_name=STICKY_ASSIGNOR)

    def delete(self, group_id: str) -> CoordinatorResult[ErrorCode]:
        """DeleteGroups of a streams group: only an empty one (NON_EMPTY_GROUP)."""
        group = self.groups.get(group_id)
        if group is None:
            return CoordinatorResult([], ErrorCode.GROUP_ID_NOT_FOUND)
        if group.members:
            return CoordinatorResult([], ErrorCode.NON_EMPTY_GROUP)
        return CoordinatorResult(group_tombstones(group_id, list(group.members)), ErrorCode.NONE)

    def validate_offset_commit(self, group_id: str, member_id: str, member_epoch: int,
                               partitions: Any = ()) -> ErrorCode | None:
        """OffsetCommit and TxnOffsetCommit from a streams member (Kafka 4.4's
        ``StreamsGroup.validateOffsetCommit``): None when it may commit.

        The member's current epoch may commit anything; an older epoch only partitions
        of active tasks the member has held since that epoch or before (each task's
        assignment epoch), so a late commit of a task that moved away and back is fenced
        (STALE_MEMBER_EPOCH). An admin commit (no member, epoch -1) needs an empty group.
        """
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if member_epoch < 0 and not member_id:
            return None if not group.members else ErrorCode.UNKNOWN_MEMBER_ID
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch == member.member_epoch:
            return None
        if member_epoch > member.member_epoch or group.topology is None:
            return ErrorCode.STALE_MEMBER_EPOCH
        readers: dict[str, list[str]] = {}
        for s in group.topology.subtopologies:
            for topic in [*s.source_topics, *(i.name for i in s.repartition_source_topics)]:
                readers.setdefault(topic, []).append(s.subtopology_id)
        for topic, partition in partitions:
            epochs = [member.active_epochs.get((s, partition)) for s in readers.get(topic, ())]
            if not any(e is not None and e <= member_epoch for e in epochs):
                return ErrorCode.STALE_MEMBER_EPOCH
        return None
