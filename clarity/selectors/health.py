"""How each pair and flow is doing: what the health dashboard and the REST API show.

Every read here costs the same at a thousand ledger rows as at a million: the
chart and the day's outcomes come from hourly counters (LedgerHourlyCount),
the last run and the oldest failure are single probes of indexes that lead
with the flow, and the query count grows with pairs and flows, never rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import django_rq
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Worker

from clarity.models import (
    Flow,
    IntegrationPair,
    LedgerHourlyCount,
    RecordStatus,
    SubscriberPosition,
    SubscriberState,
    SyncRecord,
    SyncRun,
)
from clarity.models.ledger import COUNTED
from clarity.sync.hourly import hour_of
from clarity.sync.queues import DEFAULT_QUEUE, get_queue, pair_queue_name
from clarity.sync.schedules import polling_mode
from connectors.agents.models import Agent
from connectors.agents.services import agent_counts, agent_online
from connectors.configs import connector_for
from connectors.errors import ConnectorError
from connectors.models import Connection
from connectors.registry import SYSTEMS, event_stream

HEALTH_PERMISSIONS = ("clarity.view_syncrun", "clarity.view_syncrecord")
"""Who may read health: whoever may read runs and the ledger it summarises (all three roles)."""

CHART_HOURS = 7 * 24


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    records: int
    failures: int


@dataclass(frozen=True)
class ConnectionHeadroom:
    """Calls a connection may still make now; None where unlimited or unknown (see problem).

    ``circuit`` is its breaker's state (closed, open, half-open; "" when unknown):
    open since ``open_since``, with a test call due at ``probe_at``, and the
    last failure the system gave, in words.
    """

    id: int
    name: str
    system: str
    minute_remaining: int | None = None
    day_remaining: int | None = None
    concurrent_free: int | None = None
    problem: str = ""
    circuit: str = ""
    open_since: datetime | None = None
    probe_at: datetime | None = None
    last_failure: str = ""
    last_failure_at: datetime | None = None


@dataclass(frozen=True)
class FlowHealth:
    id: int
    name: str
    enabled: bool
    paused_reason: str
    last_run: SyncRun | None
    today: dict[str, int]
    failure_rate: float | None
    oldest_failure_id: int | None
    oldest_failure_at: datetime | None
    # How the flow starts (adaptive poll and its current interval, cron, events).
    polling: str = ""


@dataclass(frozen=True)
class PairHealth:
    id: int
    name: str
    active: bool
    queue: str
    queue_depth: int | None
    flows: list[FlowHealth] = field(default_factory=list)
    connections: list[ConnectionHeadroom] = field(default_factory=list)
    hourly: list[HourCount] = field(default_factory=list)


def pairs_health(
    *, pairs: QuerySet[IntegrationPair] | None = None, now: datetime | None = None
) -> list[PairHealth]:
    """Health of each pair: its flows' last runs and outcomes, its queue, its connections."""
    now = now or timezone.now()
    pair_list = list(
        (pairs if pairs is not None else IntegrationPair.objects.all()).select_related(
            "connection_a", "connection_b"
        )
    )
    flows = _flows(pair_ids=[p.pk for p in pair_list])
    runs = SyncRun.objects.in_bulk([f.last_run_id for f in flows if f.last_run_id])
    since = hour_of(now) - timedelta(hours=CHART_HOURS - 1)
    counts = LedgerHourlyCount.objects.filter(flow__in=flows, hour__gte=since).values_list(
        "flow_id", "hour", "status", "count"
    )
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_pair_hour: dict[int, dict[datetime, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0])
    )
    pair_of = {f.pk: f.pair_id for f in flows}
    for flow_id, hour, status, count in counts:
        if hour >= midnight:
            today[flow_id][status] += count
        bucket = by_pair_hour[pair_of[flow_id]][hour]
        bucket[0] += count
        bucket[1] += count if status == RecordStatus.FAILED else 0
    headroom = {c.pk: connection_headroom(connection=c) for c in _connections(pair_list)}
    hours = [since + timedelta(hours=i) for i in range(CHART_HOURS)]
    return [
        PairHealth(
            id=pair.pk,
            name=pair.name,
            active=pair.active,
            queue=pair_queue_name(pair.pk),
            queue_depth=_queue_depth(pair_queue_name(pair.pk)),
            flows=[
                _flow_health(flow, runs.get(flow.last_run_id), today[flow.pk])
                for flow in flows
                if flow.pair_id == pair.pk
            ],
            connections=[headroom[pair.connection_a_id], headroom[pair.connection_b_id]],
            hourly=[HourCount(h, *by_pair_hour[pair.pk][h]) for h in hours],
        )
        for pair in pair_list
    ]


def pair_health(*, pair: IntegrationPair, now: datetime | None = None) -> PairHealth:
    return pairs_health(pairs=IntegrationPair.objects.filter(pk=pair.pk), now=now)[0]


def workers_alive() -> int | None:
    """RQ workers registered and still heartbeating; None when Redis cannot be reached."""
    try:
        return len(Worker.all(connection=django_rq.get_connection(DEFAULT_QUEUE)))
    except RedisError:
        return None


def connection_headroom(*, connection: Connection) -> ConnectionHeadroom:
    """Read the shared limiter and circuit breaker the workers use, without taking a permit.

    The connector builds both, so the Redis keys and the limits are the very
    ones its calls count against.
    """
    base: dict[str, Any] = {
        "id": connection.pk,
        "name": connection.name,
        "system": connection.system,
    }
    try:
        connector = connector_for(connection)
        if connector.breaker is not None:
            circuit = connector.breaker.status()
            base.update(
                circuit=str(circuit.state),
                open_since=circuit.open_since,
                probe_at=circuit.probe_at,
                last_failure=circuit.last_failure,
                last_failure_at=circuit.last_failure_at,
            )
        limiter = connector.limiter
        if limiter is None:
            return ConnectionHeadroom(**base, problem="No rate limiter.")
        room = limiter.headroom()
    except ConnectorError as exc:
        return ConnectionHeadroom(**base, problem=str(exc))
    except RedisError:
        return ConnectionHeadroom(**base, problem="Redis cannot be reached.")
    return ConnectionHeadroom(
        **base,
        minute_remaining=room.minute_remaining,
        day_remaining=room.day_remaining,
        concurrent_free=room.concurrent_free,
    )


def _flows(*, pair_ids: list[int]) -> list[Flow]:
    """The pairs' flows with their last run and oldest failure, in one query of index probes."""
    failures = SyncRecord.objects.filter(flow=OuterRef("pk"), status=RecordStatus.FAILED)
    oldest = failures.order_by("id")[:1]
    return list(
        Flow.objects.filter(pair_id__in=pair_ids)
        .annotate(
            last_run_id=Subquery(
                SyncRun.objects.filter(flow=OuterRef("pk")).order_by("-id").values("id")[:1]
            ),
            oldest_failure_id=Subquery(oldest.values("id")),
            oldest_failure_at=Subquery(oldest.values("created_at")),
        )
        .order_by("pair_id", "name")
    )


def _flow_health(flow: Flow, last_run: SyncRun | None, today: dict[str, int]) -> FlowHealth:
    finished = sum(today.values())
    failed = today.get(RecordStatus.FAILED, 0)
    return FlowHealth(
        id=flow.pk,
        name=flow.name,
        enabled=flow.enabled,
        paused_reason=flow.paused_reason,
        last_run=last_run,
        today={str(status): today.get(status, 0) for status in COUNTED},
        failure_rate=round(failed / finished, 4) if finished else None,
        oldest_failure_id=flow.oldest_failure_id,  # type: ignore[attr-defined]
        oldest_failure_at=flow.oldest_failure_at,  # type: ignore[attr-defined]
        polling=polling_mode(flow),
    )


def _connections(pairs: list[IntegrationPair]) -> list[Connection]:
    unique = {c.pk: c for p in pairs for c in (p.connection_a, p.connection_b)}
    return list(unique.values())


def _queue_depth(name: str) -> int | None:
    try:
        return get_queue(name).count
    except RedisError:
        return None


# -- event subscribers ---------------------------------------------------------------------

# The subscriber writes its state with every answer, keepalives included (at most 270 s
# apart on Salesforce's Pub/Sub API): a "connected" row older than this is not believed.
SUBSCRIBER_SILENT_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class TopicPosition:
    """One topic's stored position against the stream's tip when last heard; ``behind`` is
    how far apart they are where both read as numbers (replay ids are opaque: a hint, not
    an event count), 0 when equal, None when not comparable."""

    topic: str
    position: str
    latest: str
    behind: int | None
    updated_at: datetime


@dataclass(frozen=True)
class SubscriberHealth:
    """A connection's event subscriber, as ``manage.py salesforce_subscriber`` last said."""

    id: int
    name: str
    system: str
    status: str  # connected, reconnecting, stopped, silent, never
    message: str
    last_event_at: datetime | None
    position_lost_at: datetime | None
    heard_at: datetime | None
    topics: list[TopicPosition] = field(default_factory=list)


def subscribers_health(*, now: datetime | None = None) -> list[SubscriberHealth]:
    """One entry per connection of a system with an event stream that has event-triggered
    flows or subscriber state: the dashboard's "event subscribers" section."""
    now = now or timezone.now()
    with_streams = [name for name in SYSTEMS if event_stream(name) is not None]
    listening = Flow.objects.filter(trigger_webhook=True, enabled=True).values(
        "source_connection_id"
    )
    states = {s.connection_id: s for s in SubscriberState.objects.all()}
    positions: dict[int, list[TopicPosition]] = defaultdict(list)
    for row in SubscriberPosition.objects.order_by("connection_id", "topic"):
        position, latest = bytes(row.replay_id), bytes(row.latest_replay_id)
        behind = _behind(position, latest)
        positions[row.connection_id].append(
            TopicPosition(row.topic, position.hex(), latest.hex(), behind, row.updated_at)
        )
    found = []
    connections = Connection.objects.filter(system__in=with_streams).order_by("name")
    for connection in connections.filter(pk__in=listening) | connections.filter(pk__in=states):
        state = states.get(connection.pk)
        status = state.status if state else "never"
        if state and status != "stopped" and now - state.updated_at > SUBSCRIBER_SILENT_AFTER:
            status = "silent"
        found.append(
            SubscriberHealth(
                id=connection.pk,
                name=connection.name,
                system=connection.get_system_display(),
                status=status,
                message=state.message if state else "",
                last_event_at=state.last_event_at if state else None,
                position_lost_at=state.position_lost_at if state else None,
                heard_at=state.updated_at if state else None,
                topics=positions.get(connection.pk, []),
            )
        )
    return found


def _behind(position: bytes, latest: bytes) -> int | None:
    if position == latest:
        return 0
    if not position or not latest or len(position) != len(latest):
        return None
    return max(int.from_bytes(latest, "big") - int.from_bytes(position, "big"), 0)


# -- on-premises agents --------------------------------------------------------------------


@dataclass(frozen=True)
class AgentHealth:
    """One agent as the dashboard shows it; ``status`` is online, offline or never."""

    id: int
    name: str
    status: str
    version: str
    host: str
    last_heartbeat: datetime | None
    calls_served: int
    errors: int


@dataclass(frozen=True)
class AgentConnectionHealth:
    """A connection reached through agents, and whether any of them serves it now."""

    id: int
    name: str
    credentials_held_by: str
    agents: list[AgentHealth]

    @property
    def served(self) -> bool:
        return any(agent.status == "online" for agent in self.agents)


def agents_health(*, now: datetime | None = None) -> list[AgentConnectionHealth]:
    """Connections marked "through an agent" or with live agents, each with its agents:
    the dashboard's "on-premises agents" section. Revoked agents are left out."""
    now = now or timezone.now()
    live = Agent.objects.filter(revoked_at__isnull=True).order_by("name")
    by_connection: dict[int, list[AgentHealth]] = defaultdict(list)
    for agent in live:
        status = (
            "never"
            if agent.last_heartbeat is None
            else ("online" if agent_online(agent, now=now) else "offline")
        )
        by_connection[agent.connection_id].append(
            AgentHealth(
                agent.pk,
                agent.name,
                status,
                agent.version,
                agent.host,
                agent.last_heartbeat,
                *agent_counts(agent),
            )
        )
    connections = Connection.objects.filter(pk__in=list(by_connection)) | Connection.objects.filter(
        settings__through_agent=True
    )
    return [
        AgentConnectionHealth(
            connection.pk,
            connection.name,
            (connection.settings or {}).get("credentials_held_by", "agent"),
            by_connection.get(connection.pk, []),
        )
        for connection in connections.order_by("name")
    ]
