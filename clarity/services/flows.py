"""Every change to a flow: what the admin, the API, bundles and jobs call.

A flow is changed here and nowhere else, so each change gets the same care:
validated with ``full_clean()``, audited in the same transaction (who, what
before, what after; no user means the sync core itself did it, e.g. a refused
login paused the flow) and its RQ schedule brought in line once the change is
committed — a bundle, an API client or a job re-enabling a flow gets its
schedule exactly as a click in the admin does.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

import redis
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from clarity.models import AuditEvent, Flow, MatchingRule, Trigger
from clarity.services.runs import PairNotLaunched, flow_run_enqueue
from clarity.sync.schedules import flow_schedule_register, poll_interval_adapt
from clarity.sync.storable import escaped_text
from connectors.configs import connector_for
from connectors.errors import ConnectorError

logger = logging.getLogger(__name__)


def _snapshot(flow: Flow, names: list[str]) -> dict[str, Any]:
    """The fields' stored values, JSON-ready (a connection or mapping by its id)."""
    return {name: flow.serializable_value(name) for name in names}


def _schedule_after_commit(flow: Flow) -> None:
    transaction.on_commit(lambda: flow_schedule_sync(flow=flow))


@transaction.atomic
def flow_create(*, data: dict[str, Any], user: AbstractBaseUser | None) -> Flow:
    """Create a flow from field values (a connection or mapping as its object)."""
    flow = Flow(**data)
    flow.full_clean()
    flow.save()
    AuditEvent.objects.create(
        user=user, action="flow_create", flow=flow, detail={"after": _snapshot(flow, list(data))}
    )
    _schedule_after_commit(flow)
    return flow


@transaction.atomic
def flow_update(*, flow: Flow, data: dict[str, Any], user: AbstractBaseUser | None) -> Flow:
    """Change a flow's fields; enabling a paused flow is un-pausing it (its reason is cleared).

    Returns the flow as saved. Only the fields whose value differs are saved
    and audited, so saving an unchanged flow (a re-imported bundle) leaves no
    noise in the audit trail.
    """
    flow = Flow.objects.select_for_update().get(pk=flow.pk)
    changed = [name for name, value in data.items() if getattr(flow, name) != value]
    if not changed:
        return flow
    before = _snapshot(flow, changed)
    for name in changed:
        setattr(flow, name, data[name])
    if "enabled" in changed and flow.enabled and flow.paused_reason:
        before["paused_reason"] = flow.paused_reason
        flow.paused_reason = ""
        changed.append("paused_reason")
    flow.full_clean()
    # Only what changed: a run moving the cursor meanwhile keeps its cursor.
    flow.save(update_fields=[*changed, "updated_at"])
    AuditEvent.objects.create(
        user=user,
        action="flow_update",
        flow=flow,
        detail={"before": before, "after": _snapshot(flow, changed)},
    )
    _schedule_after_commit(flow)
    return flow


# What a matching rule is, as a bundle carries it (the flow it belongs to aside).
MATCHING_RULE_FIELDS = ("position", "match_by", "keys", "enabled")


def flow_matching_rules(flow: Flow) -> list[dict[str, Any]]:
    """A flow's matching rules in the order they are tried, as plain values."""
    return [
        {name: getattr(rule, name) for name in MATCHING_RULE_FIELDS}
        for rule in flow.matching_rules.order_by("position", "pk")
    ]


@transaction.atomic
def flow_matching_rules_set(
    *, flow: Flow, rules: list[dict[str, Any]], user: AbstractBaseUser | None
) -> Flow:
    """Replace a flow's matching rules with ``rules`` (a bundle carries them whole).

    Each is checked as the admin checks it (its fields against the target's, so a
    misspelt field is refused now, not found out as "no match" on a first sync), and
    the change is audited; the same rules again change nothing and leave no audit row.
    """
    wanted = []
    for number, data in enumerate(rules, start=1):
        if not isinstance(data, dict) or set(data) - set(MATCHING_RULE_FIELDS):
            raise ValidationError(
                f"Matching rule {number} must be an object of {', '.join(MATCHING_RULE_FIELDS)}."
            )
        rule = MatchingRule(flow=flow, **data)
        try:
            rule.full_clean()
        except ValidationError as exc:
            raise ValidationError(f"Matching rule {number}: {'; '.join(exc.messages)}") from exc
        wanted.append(rule)
    before = flow_matching_rules(flow)
    after = [{name: getattr(rule, name) for name in MATCHING_RULE_FIELDS} for rule in wanted]
    if before == after:
        return flow
    flow.matching_rules.all().delete()
    MatchingRule.objects.bulk_create(wanted)
    AuditEvent.objects.create(
        user=user,
        action="flow_matching_rules_set",
        flow=flow,
        detail={"before": before, "after": after},
    )
    return flow


@transaction.atomic
def flow_pause(*, flow: Flow, reason: str, user: AbstractBaseUser | None = None) -> Flow:
    """Stop a flow until a person enables it again, saying why (shown on the flow and alerted).

    The pipeline pauses a flow whose login was refused: one pause and one
    message instead of failing every record with the same login error.
    """
    reason = escaped_text(reason.strip())  # a remote system's message may hold NUL
    if not reason:
        raise ValidationError("Say why the flow is paused: the reason is required.")
    flow = Flow.objects.select_for_update().get(pk=flow.pk)
    before = _snapshot(flow, ["enabled", "paused_reason"])
    flow.enabled, flow.paused_reason = False, reason
    flow.save(update_fields=["enabled", "paused_reason", "updated_at"])
    AuditEvent.objects.create(
        user=user,
        action="flow_pause",
        flow=flow,
        detail={"before": before, "after": _snapshot(flow, ["enabled", "paused_reason"])},
    )
    _schedule_after_commit(flow)
    return flow


def flow_unpause(*, flow: Flow, user: AbstractBaseUser | None) -> Flow:
    """Enable a paused (or disabled) flow again: its reason is cleared and its schedule back."""
    return flow_update(flow=flow, data={"enabled": True}, user=user)


@transaction.atomic
def flow_cursor_set(*, flow: Flow, when: datetime | None, user: AbstractBaseUser) -> Flow:
    """Backfill: move the flow's cursor back so a period (or, for None, everything) is read again.

    Safe because idempotency keys skip whatever was already delivered. The
    source connector writes the cursor, since each system's cursor has its own
    shape (a timestamp, a timestamp and an id, a row's key columns).
    """
    flow = Flow.objects.select_for_update().get(pk=flow.pk)
    value = ""
    if when is not None:
        try:
            value = connector_for(flow.source_connection).cursor_at(flow.source_entity, when)
        except ConnectorError as exc:
            raise ValidationError(str(exc)) from exc
    AuditEvent.objects.create(
        user=user, action="cursor_set", flow=flow, detail={"before": flow.cursor, "after": value}
    )
    flow.cursor = value
    flow.save(update_fields=["cursor", "updated_at"])
    return flow


def flow_schedule_sync(*, flow: Flow) -> bool:
    """Bring the flow's job in RQ's scheduler in line with the flow; False if Redis is down.

    Called once a change is committed. With Redis unreachable the flow keeps no
    job id: the sweeper registers the schedule once Redis is back, and a job
    left from before finds a different id on the flow and does nothing.
    """
    try:
        flow_schedule_register(flow=flow)
    except redis.exceptions.RedisError:
        logger.warning("flow %s: Redis unreachable, its schedule waits for the sweeper", flow.pk)
        Flow.objects.filter(pk=flow.pk).update(schedule_job_id="")
        flow.schedule_job_id = ""
        return False
    return True


def flow_schedule_fire(*, flow_id: int, job_id: str) -> bool:
    """The scheduled moment came: run the flow and register the next one."""
    with transaction.atomic():
        flow = Flow.objects.select_for_update().filter(pk=flow_id).first()
        if flow is None or flow.schedule_job_id != job_id:
            return False
        if flow.poll_adaptive:
            poll_interval_adapt(flow=flow)
        if flow.enabled:
            # A pair back to awaiting Launch runs nothing: re-registering drops the job.
            with contextlib.suppress(PairNotLaunched):
                flow_run_enqueue(flow=flow, trigger=Trigger.SCHEDULE)
    flow_schedule_register(flow=flow)
    return True
