"""Changes finance users make to ledger records."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clarity.models import AuditEvent, RecordStatus, SyncRecord
from clarity.models.ledger import NEEDS_ACTION


@transaction.atomic
def ledger_records_resolve(
    *, records: QuerySet[SyncRecord], user: AbstractBaseUser, note: str
) -> int:
    """Mark failed records resolved by a person, with the reason they give.

    Only failed records change; succeeded or skipped ones have nothing to
    resolve. Returns how many were resolved.
    """
    note = note.strip()
    if not note:
        raise ValidationError("Say why these records are resolved: the note is required.")
    return records.filter(status=RecordStatus.FAILED).update(
        status=RecordStatus.RESOLVED,
        resolved_by=user,
        resolved_at=timezone.now(),
        resolution_note=note,
        next_retry_at=None,
        updated_at=timezone.now(),
    )


def ledger_tags_normalise(text: str) -> str:
    """``" VAT, month-end,,vat "`` -> ``"vat, month-end"``: one spelling, so a tag finds its kin."""
    tags = dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip())
    return ", ".join(tags)


@transaction.atomic
def ledger_records_assign(
    *,
    records: QuerySet[SyncRecord],
    assignee: AbstractUser | None,
    tags: str | None,
    user: AbstractBaseUser,
) -> int:
    """Give failed records to a person (None: to nobody) and, unless ``tags`` is None, tag them.

    Only records waiting for a person (failed, unknown) are assigned: a record
    that succeeded has no work left. Audited with the previous values.
    """
    rows = list(
        records.filter(status__in=NEEDS_ACTION)
        .select_related("assigned_to")
        .select_for_update(of=("self",))
    )
    changes: dict[str, object] = {"assigned_to": assignee}
    if tags is not None:
        changes["tags"] = ledger_tags_normalise(tags)
    SyncRecord.objects.filter(pk__in=[r.pk for r in rows]).update(
        **changes, updated_at=timezone.now()
    )
    after = {"assigned_to": assignee.get_username() if assignee else None}
    if tags is not None:
        after["tags"] = changes["tags"]
    AuditEvent.objects.bulk_create(
        AuditEvent(
            user=user,
            action="assign",
            flow_id=r.flow_id,
            record=r,
            detail={
                "before": {
                    "assigned_to": r.assigned_to.get_username() if r.assigned_to else None,
                    "tags": r.tags,
                },
                "after": after,
            },
        )
        for r in rows
    )
    return len(rows)
