"""Alerts: evaluate each enabled rule, open one alert per incident, resolve it when it clears.

``alerts_check`` is cheap enough to run every sweep: a few indexed queries per
rule and one Redis read per connection with an allowance rule. Each rule yields
the incidents happening now, keyed by what they are about (``flow:12``,
``connection:3``, ``pair:5``). A new key opens an alert and sends it once; an
open alert whose key is gone is resolved and its "resolved" message sent once.
An open alert whose condition cannot be read right now (Redis down, a broken
connection) is left as it is rather than resolved on a guess.

"Once" holds with several checks at a time: the database allows one open alert
per rule and key, and only the check that inserted it — or that flipped it to
resolved — delivers the message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from croniter import croniter
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone
from redis.exceptions import RedisError

from clarity.models import (
    Alert,
    AlertKind,
    AlertRule,
    FindingKind,
    Flow,
    IntegrationPair,
    ReconciliationRun,
    ReconciliationStatus,
    RecordStatus,
    SubscriberState,
    SubscriberStatus,
    SyncRecord,
    SyncRun,
)
from clarity.models.pairs import AWAITING_LAUNCH
from connectors.agents.models import Agent
from connectors.configs import connector_for
from connectors.errors import ConnectorError
from connectors.models import Connection

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 5.0


@dataclass
class Findings:
    """Incidents happening now (key → message) and keys whose state is unknown now."""

    active: dict[str, str] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)


@dataclass
class CheckResult:
    opened: int = 0
    resolved: int = 0
    open: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"opened": self.opened, "resolved": self.resolved, "open": self.open}


def alerts_check(
    *,
    now: datetime | None = None,
    pair_id: int | None = None,
    kinds: Sequence[str] | None = None,
) -> dict[str, int]:
    """Evaluate every enabled rule (or those of one pair and kinds: what a finished
    reconciliation changed); returns how many alerts opened, resolved and stay open."""
    now = now or timezone.now()
    result = CheckResult()
    rules = AlertRule.objects.filter(enabled=True).select_related(
        "pair__connection_a", "pair__connection_b"
    )
    if pair_id is not None:
        rules = rules.filter(pair_id=pair_id)
    if kinds is not None:
        rules = rules.filter(kind__in=kinds)
    for rule in rules:
        try:
            findings = EVALUATORS[rule.kind](rule, now)
        except Exception:
            logger.exception("alert rule %s could not be evaluated", rule.pk)
            continue
        _apply(rule, findings, now=now, result=result)
    # Alerts of rules since disabled or deleted stay as they are: nobody is watching them.
    return result.as_dict()


# --- conditions -------------------------------------------------------------------------


def failures_over(rule: AlertRule, now: datetime) -> Findings:
    since = now - timedelta(minutes=rule.window_minutes)
    count = SyncRecord.objects.filter(
        pair_id=rule.pair_id, status=RecordStatus.FAILED, updated_at__gte=since
    ).count()
    if count <= rule.failures:
        return Findings()
    return Findings(
        active={
            f"pair:{rule.pair_id}": (
                f"{count} ledger records of {rule.pair.name} failed in the last "
                f"{rule.window_minutes} minutes (alert above {rule.failures})."
            )
        }
    )


def schedule_missed(rule: AlertRule, now: datetime) -> Findings:
    """A scheduled flow missed its run: the next fire after its last run is past, plus grace.

    A production pair's flows do not run before Launch, so they are not late then; after
    it they are counted from the launch.
    """
    if IntegrationPair.objects.filter(AWAITING_LAUNCH, pk=rule.pair_id).exists():
        return Findings()
    flows = Flow.objects.filter(pair_id=rule.pair_id, enabled=True, trigger_schedule=True).exclude(
        schedule_cron=""
    )
    last_runs = dict(
        SyncRun.objects.filter(flow__in=flows)
        .values("flow_id")
        .annotate(last=Max("created_at"))
        .values_list("flow_id", "last")
    )
    grace = timedelta(minutes=rule.grace_minutes)
    findings = Findings()
    for flow in flows:
        key = f"flow:{flow.pk}"
        last = last_runs.get(flow.pk)
        # A flow enabled after a long pause is counted from when it changed, not its last run.
        since = max(filter(None, [last, flow.created_at, flow.updated_at, rule.pair.launched_at]))
        try:
            due = croniter(flow.schedule_cron.strip(), since).get_next(datetime)
        except (ValueError, KeyError):
            findings.unknown.add(key)
            continue
        if now > due + grace:
            ran = f"it last ran at {_when(last)}" if last else "it has never run"
            findings.active[key] = (
                f"Scheduled flow {flow} was due at {_when(due)} (schedule "
                f"'{flow.schedule_cron}', {rule.grace_minutes} minutes' grace) and {ran}."
            )
    return findings


def auth_failure(rule: AlertRule, now: datetime) -> Findings:
    """Flows paused by themselves because a login was refused (clarity.sync.pipeline)."""
    paused = Flow.objects.filter(pair_id=rule.pair_id, enabled=False).exclude(paused_reason="")
    return Findings(
        active={f"flow:{flow.pk}": f"Flow {flow}: {flow.paused_reason}" for flow in paused}
    )


def allowance_low(rule: AlertRule, now: datetime) -> Findings:
    findings = Findings()
    pair = rule.pair
    for connection in (pair.connection_a, pair.connection_b):
        key = f"connection:{connection.pk}"
        try:
            room = _day_allowance(connection)
        except (ConnectorError, RedisError) as exc:
            logger.warning("allowance of connection %s unknown: %s", connection.pk, exc)
            findings.unknown.add(key)
            continue
        if room is None:
            continue
        remaining, per_day = room
        if remaining * 100 < rule.allowance_percent * per_day:
            findings.active[key] = (
                f"Connection {connection.name} has {remaining} of its {per_day} daily API "
                f"calls left (alert below {rule.allowance_percent}%)."
            )
    return findings


def _day_allowance(connection: Connection) -> tuple[int, int] | None:
    """(calls left today, calls allowed a day), or None where there is no daily limit."""
    limiter = connector_for(connection).limiter
    if limiter is None or not limiter.limits.per_day:
        return None
    remaining = limiter.headroom().day_remaining
    if remaining is None:
        return None
    return remaining, limiter.limits.per_day


def agent_offline(rule: AlertRule, now: datetime) -> Findings:
    """On-premises agents of the pair's connections silent for more than the grace minutes.

    An agent installed but never connected counts from its creation; a revoked one is
    not watched. When it polls again its alert resolves, which sends the "back" message.
    """
    pair = rule.pair
    silent_since = now - timedelta(minutes=rule.grace_minutes)
    agents = Agent.objects.filter(
        connection_id__in=(pair.connection_a_id, pair.connection_b_id), revoked_at__isnull=True
    ).select_related("connection")
    findings = Findings()
    for agent in agents:
        last = agent.last_heartbeat or agent.created_at
        if last < silent_since:
            heard = (
                f"last heard from at {_when(agent.last_heartbeat)}"
                if agent.last_heartbeat
                else f"has never connected since it was created at {_when(agent.created_at)}"
            )
            findings.active[f"agent:{agent.pk}"] = (
                f"On-premises agent {agent.name} of connection {agent.connection.name} is "
                f"offline: it {heard} (alert after {rule.grace_minutes} minutes). Runs that "
                "need SYSPRO wait until an agent is back; check the agent's host and service."
            )
    return findings


def events_not_flowing(rule: AlertRule, now: datetime) -> Findings:
    """The pair's connections whose event subscriber (``manage.py salesforce_subscriber``)
    is stopped, has said nothing for more than the grace minutes (it writes with every
    keepalive, at most 270 s apart), or found its position past the stream's retention
    within them (its flows were polled: the alert says events were missed)."""
    pair = rule.pair
    grace = timedelta(minutes=rule.grace_minutes)
    states = SubscriberState.objects.filter(
        connection_id__in=(pair.connection_a_id, pair.connection_b_id)
    ).select_related("connection")
    findings = Findings()
    for state in states:
        name = state.connection.name
        if state.status == SubscriberStatus.STOPPED:
            why = f": {state.message}" if state.message else "."
            findings.active[f"subscriber:{state.connection_id}"] = (
                f"The event subscriber of {name} is stopped{why} Its flows run on their "
                "schedules only until `manage.py salesforce_subscriber` runs again."
            )
        elif now - state.updated_at > grace:
            findings.active[f"subscriber:{state.connection_id}"] = (
                f"The event subscriber of {name} has said nothing since "
                f"{_when(state.updated_at)}: check that `manage.py salesforce_subscriber` runs."
            )
        if state.position_lost_at and now - state.position_lost_at <= grace:
            findings.active[f"subscriber-position:{state.connection_id}"] = (
                f"{name}'s event stream resumed from a position older than Salesforce keeps "
                f"events (at {_when(state.position_lost_at)}): events were missed, and a full "
                "poll of its flows from their cursors was queued to read those changes."
            )
    return findings


def reconciliation_mismatch(rule: AlertRule, now: datetime) -> Findings:
    """The pair's latest finished reconciliation left findings nobody acknowledged. One
    incident per pair: it resolves when they are acknowledged or a later run finds none."""
    run = (
        ReconciliationRun.objects.filter(
            pair_id=rule.pair_id,
            status__in=(ReconciliationStatus.AGREED, ReconciliationStatus.MISMATCHED),
        )
        .order_by("-pk")
        .first()
    )
    if run is None:
        return Findings()
    open_kinds = dict(
        run.findings.filter(acknowledged_at__isnull=True)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    if not open_kinds:
        return Findings()
    what = ", ".join(
        f"{open_kinds[kind]} {label.lower()}" for kind, label in FindingKind.choices
        if kind in open_kinds
    )  # fmt: skip
    return Findings(
        active={
            f"reconciliation:{rule.pair_id}": (
                f"Reconciliation #{run.pk} of {rule.pair.name} ({_when(run.started_at or now)}) "
                f"found {sum(open_kinds.values())} mismatches not yet acknowledged: {what}. "
                "Open the reconciliation in the admin, fix each or acknowledge it with a note."
            )
        }
    )


EVALUATORS = {
    AlertKind.FAILURES_OVER: failures_over,
    AlertKind.SCHEDULE_MISSED: schedule_missed,
    AlertKind.AUTH_FAILURE: auth_failure,
    AlertKind.ALLOWANCE_LOW: allowance_low,
    AlertKind.AGENT_OFFLINE: agent_offline,
    AlertKind.EVENTS_NOT_FLOWING: events_not_flowing,
    AlertKind.RECONCILIATION_MISMATCH: reconciliation_mismatch,
}


# --- opening, resolving, delivering -------------------------------------------------------


def _apply(rule: AlertRule, findings: Findings, *, now: datetime, result: CheckResult) -> None:
    open_alerts = {a.incident_key: a for a in rule.alerts.filter(resolved_at__isnull=True)}
    for key, message in findings.active.items():
        if key in open_alerts:
            result.open += 1
            continue
        alert = _open(rule, key, message, now=now)
        if alert is not None:
            result.opened += 1
            result.open += 1
            _deliver(alert, event="opened")
    for key, alert in open_alerts.items():
        if key in findings.active or key in findings.unknown:
            continue
        message = f"Resolved: {alert.last_message}"
        flipped = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
            resolved_at=now, last_message=message
        )
        if flipped:
            alert.resolved_at, alert.last_message = now, message
            result.resolved += 1
            _deliver(alert, event="resolved")


def _open(rule: AlertRule, key: str, message: str, *, now: datetime) -> Alert | None:
    """Insert the open alert; None when another check opened it first."""
    try:
        with transaction.atomic():
            return Alert.objects.create(
                rule=rule, incident_key=key, opened_at=now, last_message=message
            )
    except IntegrityError:
        return None


def _deliver(alert: Alert, *, event: str) -> None:
    """Email and webhook; a failed delivery is logged and noted on the alert, never raised."""
    rule = alert.rule
    problems = []
    subject = (
        f"[Clarity Connect] {'Resolved' if event == 'resolved' else 'Alert'}: "
        f"{rule.pair.name} — {rule.get_kind_display()}"
    )
    body = _body(alert, event=event)
    if rule.recipient_list:
        try:
            send_mail(subject, body, None, rule.recipient_list, fail_silently=False)
        except Exception as exc:
            logger.exception("alert %s: the email could not be sent", alert.pk)
            problems.append(f"email: {exc}")
    if rule.webhook_url:
        try:
            response = requests.post(
                rule.webhook_url,
                json=_webhook_payload(alert, event=event),
                timeout=float(getattr(settings, "CLARITY_ALERT_WEBHOOK_TIMEOUT", WEBHOOK_TIMEOUT)),
            )
            response.raise_for_status()
        except requests.RequestException as exc:
            logger.warning("alert %s: the webhook %s failed: %s", alert.pk, rule.webhook_url, exc)
            problems.append(f"webhook: {exc}")
    note = "; ".join(problems)
    if note != alert.delivery_problem:
        Alert.objects.filter(pk=alert.pk).update(delivery_problem=note)
        alert.delivery_problem = note


def _body(alert: Alert, *, event: str) -> str:
    rule = alert.rule
    lines = [alert.last_message, ""]
    lines.append(f"Pair: {rule.pair.name}")
    lines.append(f"Rule: {rule.get_kind_display()}")
    lines.append(f"About: {alert.incident_key}")
    lines.append(f"Opened: {_when(alert.opened_at)}")
    if event == "resolved" and alert.resolved_at:
        lines.append(f"Resolved: {_when(alert.resolved_at)}")
    return "\n".join(lines) + "\n"


def _webhook_payload(alert: Alert, *, event: str) -> dict[str, Any]:
    rule = alert.rule
    return {
        "event": event,
        "alert_id": alert.pk,
        "rule_id": rule.pk,
        "kind": rule.kind,
        "pair": {"id": rule.pair_id, "name": rule.pair.name},
        "incident": alert.incident_key,
        "message": alert.last_message,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
