"""Settings of the Raft core, with Kafka's defaults.

Field names are Kafka's configuration names with the ``controller.quorum.`` /
``metadata.log.`` prefix dropped and snake_cased; the configuration table maps the
real names onto this value.
"""

from __future__ import annotations

from typing import NamedTuple


class RaftConfig(NamedTuple):
    node_id: int
    directory_id: str | None = None
    cluster_id: str | None = None
    # controller.quorum.election.timeout.ms: the base; each wait adds up to as much again.
    election_timeout_ms: int = 1000
    # controller.quorum.fetch.timeout.ms: a follower without a good fetch this long
    # starts a pre-vote; a leader without fetches from a majority for 1.5x resigns.
    fetch_timeout_ms: int = 2000
    # controller.quorum.election.backoff.max.ms: cap of the EndQuorumEpoch backoff.
    election_backoff_max_ms: int = 1000
    # controller.quorum.request.timeout.ms: resend a request after this long.
    request_timeout_ms: int = 2000
    # controller.quorum.retry.backoff.ms
    retry_backoff_ms: int = 20
    # How long the leader parks an empty fetch (KafkaRaftClient's fetchMaxWaitMs).
    fetch_max_wait_ms: int = 500
    # Largest Fetch / FetchSnapshot response (KafkaRaftClient.MAX_FETCH_SIZE_BYTES).
    fetch_max_bytes: int = 8 * 1024 * 1024
    # kraft.version: 0 keeps a static voter set, 1 keeps voters in the log (KIP-853).
    kraft_version: int = 1
    # controller.quorum.bootstrap.servers as node ids -2, -3, ... (Kafka's RequestManager
    # gives them negative ids): asked who leads while no voter is known (KIP-853).
    bootstrap_ids: tuple[int, ...] = ()
