"""Changes finance users make to ledger records."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clarity.models import RecordStatus, SyncRecord


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
