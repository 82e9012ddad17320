"""Go-live: acknowledging what a validate run says would fail, and launching a pair.

Until a production pair is launched its flows can only validate (the rule is in
``clarity.services.runs.flow_run_enqueue``, which every run goes through). Launch checks
the pair's go-live checklist (clarity/selectors/golive.py) and, only when every item is
met, records who launched it and when and registers its flows' schedules.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.timezone import localtime

from clarity.models import AuditEvent, Flow, IntegrationPair
from clarity.models.validation import ValidateOutcome, ValidateRecord
from clarity.selectors.golive import pair_checklist
from clarity.services.flows import flow_schedule_sync
from clarity.sync.storable import escaped_text


@transaction.atomic
def validate_records_acknowledge(
    *, records: QuerySet[ValidateRecord], note: str, user: AbstractBaseUser
) -> int:
    """Accept would-fail records for go-live with a note saying why; returns how many.

    The note is required: it is what an auditor reads later about a record that was
    known to fail at launch. Records that would not fail need no acknowledgement and
    are left as they are; acknowledging again replaces the note.
    """
    note = escaped_text(note.strip())
    if not note:
        raise ValidationError(
            "Say why these failures are acceptable for go-live: the note is required."
        )
    chosen = list(
        ValidateRecord.objects.select_for_update(of=("self",))
        .select_related("run")
        .defer("transformed_payload", "differences")
        .filter(pk__in=records.values("pk"), outcome=ValidateOutcome.WOULD_FAIL)
        .order_by("pk")
    )
    if not chosen:
        raise ValidationError(
            "None of the selected records would fail: only would-fail records are acknowledged."
        )
    now = timezone.now()
    for record in chosen:
        record.acknowledged_note, record.acknowledged_by, record.acknowledged_at = note, user, now
    ValidateRecord.objects.bulk_update(
        chosen, ["acknowledged_note", "acknowledged_by", "acknowledged_at"]
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            user=user,
            action="validate_acknowledge",
            flow_id=record.run.flow_id,
            detail={
                "validate_run": record.run_id,
                "validate_record": record.pk,
                "source_id": record.source_id,
                "error_code": record.error_code,
                "note": note,
            },
        )
        for record in chosen
    )
    return len(chosen)


def _launched_words(pair: IntegrationPair) -> str:
    assert pair.launched_at is not None
    who = f" by {pair.launched_by}" if pair.launched_by_id else ""
    return f"launched on {localtime(pair.launched_at):%Y-%m-%d %H:%M}{who}"


@transaction.atomic
def pair_launch(*, pair: IntegrationPair, user: AbstractBaseUser) -> IntegrationPair:
    """Turn the pair's flows live: refused, with every unmet go-live item, until all are met.

    A refusal changes nothing. A launch records who and when, writes an audit row and,
    once committed, registers each enabled flow's schedule through the flow services (as
    enabling a flow does); from then on every kind of run is accepted. Disabled flows
    stay as they are: the checklist did not cover them.
    """
    pair = IntegrationPair.objects.select_for_update().get(pk=pair.pk)
    if pair.launched_at is not None:
        raise ValidationError(f"Pair '{pair.name}' is live already: {_launched_words(pair)}.")
    items = pair_checklist(pair=pair)
    unmet = [item for item in items if not item.ok]
    if unmet:
        raise ValidationError(
            [
                f"Pair '{pair.name}' was not launched: {len(unmet)} of {len(items)} go-live "
                "items are not met yet."
            ]
            + [f"{item.label}: {item.detail}" for item in unmet]
        )
    pair.launched_at, pair.launched_by = timezone.now(), user
    pair.save(update_fields=["launched_at", "launched_by", "updated_at"])
    flows = list(Flow.objects.filter(pair=pair, enabled=True).order_by("name"))
    AuditEvent.objects.create(
        user=user,
        action="pair_launch",
        detail={
            "pair": pair.pk,
            "name": pair.name,
            "launched_at": pair.launched_at.isoformat(),
            "flows": [flow.pk for flow in flows],
            "checklist": {item.key: item.detail for item in items},
        },
    )
    for flow in flows:
        transaction.on_commit(lambda flow=flow: flow_schedule_sync(flow=flow))
    return pair
