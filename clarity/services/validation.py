"""Starting validate runs: what the flow's and the pair's "Validate" buttons call."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clarity.models import AuditEvent, Flow, IntegrationPair, ValidateRun, ValidateStatus
from clarity.sync.queues import enqueue, pair_queue_name

VALIDATE_FLOW = "clarity.jobs.validate_flow"


@transaction.atomic
def validate_run_start(*, flow: Flow, user: AbstractBaseUser | None) -> ValidateRun:
    """Queue a validate run of the flow, or return the one already waiting to start.

    A flow validates whether or not it is enabled or launched: before go-live is when a
    dry run is wanted. It runs on the pair's queue, like the flow's own runs, so a
    worker of that pair takes it; it holds no flow lease, as it writes nothing a run
    writes (clarity.sync.validation).
    """
    Flow.objects.select_for_update().filter(pk=flow.pk).first()
    waiting = ValidateRun.objects.filter(flow=flow, status=ValidateStatus.QUEUED).first()
    if waiting is not None:
        return waiting
    run = ValidateRun.objects.create(
        flow=flow, started_by=user if user is not None and user.pk else None
    )
    enqueue(
        pair_queue_name(flow.pair_id),
        VALIDATE_FLOW,
        run.pk,
        job_id=f"validate_flow-{run.pk}-{uuid.uuid4().hex}",
    )
    if user is not None and user.pk:
        AuditEvent.objects.create(
            user=user, action="validate", flow=flow, detail={"validate_run": run.pk}
        )
    return run


def validate_pair_start(
    *, pair: IntegrationPair, user: AbstractBaseUser | None
) -> list[ValidateRun]:
    """A validate run of every flow of the pair, one per flow."""
    flows = Flow.objects.filter(pair=pair).order_by("name", "pk")
    return [validate_run_start(flow=flow, user=user) for flow in flows]
