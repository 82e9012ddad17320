"""Every change reconciliation makes: settings, schedules, runs, acknowledgements.

The admin, the jobs and the API call these; each change is validated, audited and its
side effects (a queued job, a schedule in RQ, the alert) happen once it is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import redis
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clarity.models import (
    AlertKind,
    AuditEvent,
    Flow,
    IntegrationPair,
    ReconciliationFinding,
    ReconciliationRun,
    ReconciliationSchedule,
    ReconciliationSetting,
    ReconciliationStatus,
    ReconciliationTrigger,
)
from clarity.services.alerts import alerts_check
from clarity.sync.reconciliation import (
    RECONCILE_TIMEOUT,
    Amount,
    reconciliation_enqueue,
    reconciliation_execute,
    reconciliation_schedule_register,
)
from connectors.base import FieldSpec
from connectors.models import Connection
from mappings.catalogue import Catalogue, entity_schema, unknown_field
from mappings.engine.paths import Path, parse_path
from mappings.engine.problems import SpecError

logger = logging.getLogger(__name__)

SETTING_FIELDS = (
    "enabled",
    "source_amount_field",
    "target_amount_field",
    "source_date_field",
    "target_date_field",
    "period",
    "target_scope",
    "ignore_fields",
)


@transaction.atomic
def reconciliation_setting_save(
    *, flow: Flow, data: dict[str, Any], user: AbstractBaseUser | None
) -> ReconciliationSetting:
    """Turn on or change how a flow reconciles; its fields are checked against what the two
    connectors describe, so a misspelt field is refused now, not at 02:00.

    The pair gets its nightly schedule (02:00 by default) the first time one of its
    flows reconciles.
    """
    setting = ReconciliationSetting.objects.filter(flow=flow).first() or ReconciliationSetting(
        flow=flow
    )
    before = {name: getattr(setting, name) for name in SETTING_FIELDS} if setting.pk else {}
    for name, value in data.items():
        if name not in SETTING_FIELDS:
            raise ValidationError(f"{name} is not a reconciliation setting.")
        setattr(setting, name, value.strip() if isinstance(value, str) else value)
    setting.full_clean()
    if errors := reconciliation_setting_check(setting=setting):
        raise ValidationError(errors)
    setting.save()
    after = {name: getattr(setting, name) for name in SETTING_FIELDS}
    AuditEvent.objects.create(
        user=user,
        action="reconciliation_setting_save",
        flow=flow,
        detail={"before": before, "after": after},
    )
    schedule, created = ReconciliationSchedule.objects.get_or_create(pair_id=flow.pair_id)
    if created:
        _register_after_commit(schedule)
    return setting


def reconciliation_setting_check(*, setting: ReconciliationSetting) -> dict[str, str]:
    """Field name → why it cannot be used, against the flow's two connectors' fields."""
    flow = setting.flow
    return setting_problems(
        setting,
        source=_catalogue(flow.source_connection, flow.source_entity),
        target=_catalogue(flow.target_connection, flow.target_entity),
    )


def _catalogue(connection: Connection, entity: str) -> Catalogue | None:
    """The entity's fields as its connector describes them (as the mapping editor checks
    them); None when the connection cannot say (not connected yet): nothing is checked."""
    schema = entity_schema(connection=connection, entity=entity)
    if schema is None:
        return None
    return Catalogue(
        connection.system,
        schema.name,
        schema,
        lambda name: entity_schema(connection=connection, entity=name),
    )


def setting_problems(
    setting: ReconciliationSetting, *, source: Catalogue | None, target: Catalogue | None
) -> dict[str, str]:
    """Field name → why the setting cannot be used: a side named without the other, a path
    that is not one, a field the system does not describe, a text where an amount or a
    date is meant, or multiplied fields on different lines."""
    errors: dict[str, str] = {}
    for source_name, target_name, what in (
        ("source_amount_field", "target_amount_field", "an amount"),
        ("source_date_field", "target_date_field", "a date"),
    ):
        ours, theirs = getattr(setting, source_name), getattr(setting, target_name)
        if bool(ours) != bool(theirs):
            errors[target_name if ours else source_name] = (
                f"Name {what} field on both sides, or on neither."
            )
    for name, catalogue in (
        ("source_amount_field", source),
        ("target_amount_field", target),
        ("source_date_field", source),
        ("target_date_field", target),
    ):
        text = getattr(setting, name)
        if not text or name in errors:
            continue
        amount = name.endswith("amount_field")
        factors = Amount.parse(text).factors if amount else (text,)
        problems: list[str] = []
        lines: set[str] = set()
        for factor in factors:
            try:
                path = parse_path(factor, name.replace("_", " "))
            except SpecError as exc:
                problems.append(str(exc))
                continue
            if path.line_array is not None:
                lines.add(path.line_array.text)
            if catalogue is not None:
                problems += _field_problems(catalogue, path, amount=amount)
        if len(lines) > 1:
            problems.append(f"Multiplied fields must be on the same lines: {text}.")
        if problems:
            errors[name] = " ".join(problems)
    for field_name, _ in setting.scope:
        problems = []
        try:
            path = parse_path(field_name, "target scope")
        except SpecError as exc:
            problems.append(str(exc))
        else:
            if target is not None and (unknown := unknown_field(target, path.text)):
                problems.append(unknown)
        if problems:
            errors["target_scope"] = " ".join(problems)
    if setting.target_scope.strip() and any(
        not value or "=" not in item
        for item in setting.target_scope.split(",")
        for value in [item.partition("=")[2].strip()]
        if item.strip()
    ):
        errors["target_scope"] = "Write each as field=value, e.g. Type=ACCREC."
    return errors


def _field_problems(catalogue: Catalogue, path: Path, *, amount: bool) -> list[str]:
    if unknown := unknown_field(catalogue, path.text):
        return [unknown]
    spec: FieldSpec | None = None
    if len(path.segments) == 1:
        spec = next((f for f in catalogue.fields if f.name == path.segments[0].key), None)
    wanted = ("number", "integer") if amount else ("date", "datetime", "string")
    if spec is not None and spec.type not in wanted:
        what = "an amount" if amount else "a date"
        return [f"{catalogue.label}.{spec.name} is a {spec.type}, not {what}."]
    return []


@transaction.atomic
def reconciliation_schedule_save(
    *, pair: IntegrationPair, data: dict[str, Any], user: AbstractBaseUser | None
) -> ReconciliationSchedule:
    """Set when (and whether) the pair reconciles nightly; the job follows once committed."""
    schedule, _ = ReconciliationSchedule.objects.select_for_update().get_or_create(pair=pair)
    before = {"enabled": schedule.enabled, "at": schedule.at.isoformat()}
    for name in ("enabled", "at"):
        if name in data:
            setattr(schedule, name, data[name])
    schedule.full_clean()
    schedule.save()
    AuditEvent.objects.create(
        user=user,
        action="reconciliation_schedule_save",
        detail={
            "pair": pair.pk,
            "before": before,
            "after": {"enabled": schedule.enabled, "at": schedule.at.isoformat()},
        },
    )
    _register_after_commit(schedule)
    return schedule


def _register_after_commit(schedule: ReconciliationSchedule) -> None:
    def register() -> None:
        try:
            reconciliation_schedule_register(schedule=schedule)
        except redis.exceptions.RedisError:
            # The sweeper registers it once Redis is back (reconciliation_schedules_ensure).
            logger.warning("pair %s: Redis unreachable, its reconciliation waits", schedule.pair_id)

    transaction.on_commit(register)


@transaction.atomic
def reconciliation_run_start(
    *,
    pair: IntegrationPair,
    user: AbstractBaseUser | None,
    trigger: ReconciliationTrigger = ReconciliationTrigger.ON_DEMAND,
) -> ReconciliationRun:
    """Queue a reconciliation of the pair; one still queued or running is returned instead
    (two at once would read everything twice and report the same findings twice)."""
    IntegrationPair.objects.select_for_update().get(pk=pair.pk)
    # A run whose worker was killed stays "running"; past the job's timeout it is dead.
    ReconciliationRun.objects.filter(
        pair=pair,
        status=ReconciliationStatus.RUNNING,
        started_at__lt=timezone.now() - timedelta(seconds=RECONCILE_TIMEOUT),
    ).update(
        status=ReconciliationStatus.FAILED,
        finished_at=timezone.now(),
        message="Stopped: its worker ended before it finished (killed or timed out).",
    )
    active = (
        ReconciliationRun.objects.filter(
            pair=pair, status__in=(ReconciliationStatus.QUEUED, ReconciliationStatus.RUNNING)
        )
        .order_by("-pk")
        .first()
    )
    if active is not None:
        return active
    run = ReconciliationRun.objects.create(pair=pair, trigger=trigger, requested_by=user)
    AuditEvent.objects.create(
        user=user,
        action="reconciliation_start",
        detail={"pair": pair.pk, "run": run.pk, "trigger": trigger},
    )
    reconciliation_enqueue(run)
    return run


def reconciliation_run_execute(*, run_id: int) -> ReconciliationRun:
    """Run the queued reconciliation, then raise or resolve the pair's mismatch alert."""
    run = reconciliation_execute(run_id=run_id)
    _alerts(run.pair_id)
    return run


def reconciliation_nightly_fire(*, pair_id: int, job_id: str) -> bool:
    """The nightly moment came: start the pair's reconciliation and schedule the next one."""
    schedule = ReconciliationSchedule.objects.filter(pair_id=pair_id).first()
    if schedule is None or schedule.job_id != job_id:
        return False  # left behind by an edit of the schedule
    if schedule.enabled and schedule.pair.active:
        reconciliation_run_start(
            pair=schedule.pair, user=None, trigger=ReconciliationTrigger.NIGHTLY
        )
    reconciliation_schedule_register(schedule=schedule)
    return True


@transaction.atomic
def reconciliation_findings_acknowledge(
    *, findings: Iterable[ReconciliationFinding], note: str, user: AbstractBaseUser
) -> int:
    """Acknowledge findings with a note saying why (fixed, expected, being looked at);
    returns how many were acknowledged now. Once none of the pair's latest run is left
    open its alert resolves."""
    note = note.strip()
    if not note:
        raise ValidationError("Say why in a note: acknowledging needs one.")
    ids = [f.pk for f in findings]
    rows = list(
        ReconciliationFinding.objects.select_for_update()
        .filter(pk__in=ids, acknowledged_at__isnull=True)
        .select_related("run")
        .order_by("pk")
    )
    if not rows:
        return 0
    now = timezone.now()
    ReconciliationFinding.objects.filter(pk__in=[r.pk for r in rows]).update(
        acknowledged_note=note, acknowledged_by=user, acknowledged_at=now
    )
    by_flow: dict[int, list[int]] = {}
    for row in rows:
        by_flow.setdefault(row.flow_id, []).append(row.pk)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            user=user,
            action="reconciliation_acknowledge",
            flow_id=flow_id,
            detail={"findings": pks, "note": note},
        )
        for flow_id, pks in by_flow.items()
    )
    pairs = {row.run.pair_id for row in rows}
    transaction.on_commit(lambda: [_alerts(pair_id) for pair_id in pairs])
    return len(rows)


def _alerts(pair_id: int) -> None:
    alerts_check(pair_id=pair_id, kinds=[AlertKind.RECONCILIATION_MISMATCH])
