"""Starting runs and sending records again: what the admin, the API, webhooks and schedules call."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clarity.models import (
    AuditEvent,
    Flow,
    IntegrationPair,
    RecordStatus,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
)
from clarity.models.ledger import NEEDS_ACTION, RETRYABLE
from clarity.sync.queues import RUN_FLOW, enqueue, pair_queue_name, run_job_id
from connectors.configs import connector_for
from connectors.errors import ConnectorError

# How the pipeline's message of a record that may have been sent begins.
MAYBE_SENT_MESSAGE = "Sent, but the answer never came back"


@transaction.atomic
def flow_run_enqueue(*, flow: Flow, trigger: str, user: AbstractBaseUser | None = None) -> SyncRun:
    """Queue a run of the flow, or return the one already waiting to start.

    One waiting run serves every trigger that arrives meanwhile (a burst of
    webhooks, a schedule and a click): it has not read anything yet, so it
    will read their changes. A run already running may have read past a
    change made just before the trigger, so a trigger during a run queues one
    more run after it; the flow lease still lets only one of them run at once.
    """
    if trigger == Trigger.MANUAL and not flow.trigger_manual:
        raise ValidationError(f"Flow '{flow.name}' does not allow manual runs.")
    if not flow.enabled:
        raise ValidationError(
            f"Flow '{flow.name}' is disabled"
            + (f": {flow.paused_reason}" if flow.paused_reason else ".")
        )
    Flow.objects.select_for_update().filter(pk=flow.pk).first()
    queued = SyncRun.objects.filter(flow=flow, status=RunStatus.QUEUED)
    if trigger != Trigger.RETRY:
        queued = queued.exclude(trigger=Trigger.RETRY)  # a retry run does not read the source
    waiting = queued.first()
    if waiting is not None:
        return waiting
    run = SyncRun.objects.create(flow=flow, trigger=trigger, status=RunStatus.QUEUED)
    enqueue(pair_queue_name(flow.pair_id), RUN_FLOW, run.pk, job_id=run_job_id(run.pk))
    if user is not None:
        AuditEvent.objects.create(user=user, action="run_now", flow=flow, detail={"run": run.pk})
    return run


def may_have_been_sent(record: SyncRecord) -> bool:
    """Whether the record's last send may have reached the target: its answer never came
    back (unknown, or ignored while unknown)."""
    return record.status == RecordStatus.UNKNOWN or (
        record.status == RecordStatus.IGNORED and record.message.startswith(MAYBE_SENT_MESSAGE)
    )


@transaction.atomic
def ledger_records_retry(
    *, records: QuerySet[SyncRecord], user: AbstractBaseUser | None
) -> tuple[int, int]:
    """Send failed records again with the current mapping; returns (queued, refused).

    A succeeded record is refused: sending it again could double it in the target.
    """
    # Lock the ledger rows only: the caller's queryset may join flows or (nullable) users.
    rows = list(records.select_for_update(of=("self",)))
    retry = [r for r in rows if r.status in RETRYABLE]
    refused = len(rows) - len(retry)
    now = timezone.now()
    # A record that may already be in the target stays unknown (unclaimed): the retry run
    # looks it up first (settle_and_resend) and sends it only if it is not there. Only a
    # record known not delivered is pending, sent as never sent.
    maybe_sent = {r.pk for r in retry if may_have_been_sent(r)}
    for status, pks in (
        (RecordStatus.UNKNOWN, maybe_sent),
        (RecordStatus.PENDING, {r.pk for r in retry} - maybe_sent),
    ):
        SyncRecord.objects.filter(pk__in=pks).update(
            status=status,
            next_retry_at=None,
            claimed_by="",
            claimed_until=None,
            updated_at=now,
        )
    for flow in Flow.objects.filter(pk__in={r.flow_id for r in retry}):
        flow_run_enqueue(flow=flow, trigger=Trigger.RETRY)
    AuditEvent.objects.bulk_create(
        AuditEvent(user=user, action="retry", flow_id=r.flow_id, record=r) for r in retry
    )
    return len(retry), refused


def ledger_records_retry_code(
    *,
    flow: Flow | None,
    error_code: str,
    user: AbstractBaseUser | None,
    pair: IntegrationPair | None = None,
) -> tuple[int, int]:
    """Retry every failed record with one error code: in one flow, every flow of a pair, or all.

    A code usually names one flow's fault (its lookup, its target's rule); a
    lookup table shared by a pair's flows fails them all with the same code.
    """
    records = SyncRecord.objects.filter(status=RecordStatus.FAILED, error_code=error_code)
    if flow is not None:
        records = records.filter(flow=flow)
    if pair is not None:
        records = records.filter(pair=pair)
    return ledger_records_retry(records=records, user=user)


@transaction.atomic
def ledger_record_edit_and_retry(
    *, record: SyncRecord, payload: dict, user: AbstractBaseUser
) -> SyncRecord:
    """Correct what is sent to the target for one record, without touching the source system."""
    if not isinstance(payload, dict):
        raise ValidationError("The corrected record must be a JSON object.")
    record = SyncRecord.objects.select_for_update().get(pk=record.pk)
    if record.status not in RETRYABLE:
        raise ValidationError(
            f"Only failed records can be edited and retried; this one is {record.status}."
        )
    if may_have_been_sent(record):
        raise ValidationError(
            "This record may already be in the target: the answer to its send never came "
            "back. Retry it without editing first, so it is looked up in the target; edit it "
            "only if it then fails."
        )
    AuditEvent.objects.create(
        user=user,
        action="edit_payload",
        flow_id=record.flow_id,
        record=record,
        detail={"before": record.payload_override or record.transformed_payload, "after": payload},
    )
    record.payload_override = payload
    record.save(update_fields=["payload_override", "updated_at"])
    ledger_records_retry(records=SyncRecord.objects.filter(pk=record.pk), user=user)
    record.refresh_from_db()
    return record


@transaction.atomic
def ledger_records_ignore(
    *, records: QuerySet[SyncRecord], user: AbstractBaseUser, note: str
) -> int:
    """Stop retrying records a person decided not to sync, saying why."""
    note = note.strip()
    if not note:
        raise ValidationError("Say why these records are ignored: the note is required.")
    rows = list(records.filter(status__in=NEEDS_ACTION))
    now = timezone.now()
    SyncRecord.objects.filter(pk__in=[r.pk for r in rows]).update(
        status=RecordStatus.IGNORED,
        resolved_by=user,
        resolved_at=now,
        resolution_note=note,
        next_retry_at=None,
        updated_at=now,
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(user=user, action="ignore", flow_id=r.flow_id, record=r, detail={"note": note})
        for r in rows
    )
    return len(rows)


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
