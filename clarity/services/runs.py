"""Starting runs: what the admin, the API, webhooks, schedules and ledger retries call."""

from __future__ import annotations

from collections.abc import Collection

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from clarity.models import AuditEvent, Flow, RunStatus, SyncRun, Trigger
from clarity.sync.admission import disabled_refusal, launch_refusal
from clarity.sync.queues import RUN_FLOW, enqueue, pair_queue_name, run_job_id


class PairNotLaunched(ValidationError):
    """A production pair's flow was asked to run before the pair was launched."""


def targeted_run_max_ids() -> int:
    """The most source ids one targeted run reads; past it a cursor poll reads them all
    for less (one paged read of the changes instead of a lookup per few ids)."""
    return int(getattr(settings, "CLARITY_TARGETED_RUN_MAX_IDS", 200))


@transaction.atomic
def flow_run_enqueue(
    *,
    flow: Flow,
    trigger: str,
    user: AbstractBaseUser | None = None,
    record_ids: Collection[str] | None = None,
    key_field: str = "",
) -> SyncRun:
    """Queue a run of the flow, or return the one already waiting to start.

    One waiting run serves every trigger that arrives meanwhile (a burst of
    webhooks, a schedule and a click): it has not read anything yet, so it
    will read their changes. A run already running may have read past a
    change made just before the trigger, so a trigger during a run queues one
    more run after it; the flow lease still lets only one of them run at once.

    ``record_ids`` makes it a targeted run: only those source records are read
    (by ``key_field`` of the source entity when given, else by its own key).
    Joining a waiting run widens it: targeted runs take the union of their ids,
    and anything needing a poll — a trigger without ids, ids by another field,
    more than ``targeted_run_max_ids()`` — turns it into a cursor poll, which
    reads every change anyway.

    Every way a run starts — a click, the API, a schedule, a webhook, an event stream,
    a doorbell, a retry — comes here, so here a production pair not launched yet is
    refused (``PairNotLaunched``): its flows may only validate. The worker asks again
    when it takes the run up (``clarity.sync.admission``).
    """
    if refusal := launch_refusal(pair_id=flow.pair_id):
        raise PairNotLaunched(refusal)
    if trigger == Trigger.MANUAL and not flow.trigger_manual:
        raise ValidationError(f"Flow '{flow.name}' does not allow manual runs.")
    if refusal := disabled_refusal(flow):
        raise ValidationError(refusal)
    Flow.objects.select_for_update().filter(pk=flow.pk).first()
    queued = SyncRun.objects.filter(flow=flow, status=RunStatus.QUEUED)
    if trigger != Trigger.RETRY:
        queued = queued.exclude(trigger=Trigger.RETRY)  # a retry run does not read the source
    wanted = None if record_ids is None or trigger == Trigger.RETRY else set(record_ids)
    for waiting in queued.order_by("pk"):
        ids, field = _joined(waiting, wanted, key_field)
        # Only while it still waits: a worker that started it meanwhile has read its
        # ids already, so then a new run is queued for these (PostgreSQL re-checks the
        # status under the row's lock).
        widened = SyncRun.objects.filter(pk=waiting.pk, status=RunStatus.QUEUED).update(
            target_ids=ids, target_field=field
        )
        if widened:
            waiting.target_ids, waiting.target_field = ids, field
            return waiting
    ids, field = _joined(None, wanted, key_field)
    run = SyncRun.objects.create(
        flow=flow, trigger=trigger, status=RunStatus.QUEUED, target_ids=ids, target_field=field
    )
    enqueue(pair_queue_name(flow.pair_id), RUN_FLOW, run.pk, job_id=run_job_id(run.pk))
    if user is not None:
        AuditEvent.objects.create(user=user, action="run_now", flow=flow, detail={"run": run.pk})
    return run


def _joined(
    waiting: SyncRun | None, wanted: set[str] | None, key_field: str
) -> tuple[list[str] | None, str]:
    """The target of a run serving both ``waiting`` (None: no run yet) and a new trigger:
    the union of their ids, or ``(None, "")`` for a cursor poll (no ids named: a poll)."""
    if not wanted or (waiting is not None and waiting.target_ids is None):
        return None, ""
    if waiting is not None and waiting.target_field != key_field:
        return None, ""
    ids = set(waiting.target_ids or ()) | wanted if waiting is not None else wanted
    if len(ids) > targeted_run_max_ids():
        return None, ""
    return sorted(ids), key_field
