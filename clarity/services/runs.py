"""Starting runs: what the admin, the API, webhooks, schedules and ledger retries call."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from clarity.models import (
    AuditEvent,
    Flow,
    RunStatus,
    SyncRun,
    Trigger,
)
from clarity.sync.queues import RUN_FLOW, enqueue, pair_queue_name, run_job_id


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
