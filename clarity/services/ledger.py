"""Every change a person makes to ledger records: retry, edit and retry, ignore, resolve,
assign, link to what the target holds, and the decisions on records that matched it (link,
create new, skip).

Each action accepts the statuses its ``LedgerAction`` names (built from the
ledger's status groups in clarity/models/ledger.py), refuses the others with a
sentence a finance user can act on, and writes one audit row per record it
changed, in the same transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.contrib.auth.models import AbstractBaseUser, AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clarity.models import (
    AuditEvent,
    Decision,
    Flow,
    IntegrationPair,
    MatchDecision,
    RecordStatus,
    SyncRecord,
    Trigger,
)
from clarity.models.ledger import NEEDS_ACTION, RETRYABLE, UNDECIDED
from clarity.services.runs import flow_run_enqueue
from clarity.sync.keys import field_text
from clarity.sync.matching import twin_link
from connectors.base import FoundRecord
from connectors.configs import connector_for
from connectors.duplicates import Duplicate, duplicate_for
from connectors.registry import duplicates_of

# How the pipeline's message of a record that may have been sent begins.
MAYBE_SENT_MESSAGE = "Sent, but the answer never came back"


@dataclass(frozen=True)
class LedgerAction:
    """One thing a person does to ledger records, and the statuses it applies to."""

    audit: str  # the AuditEvent action it writes
    done: str  # "retried": how a sentence says it was done
    accepts: tuple[RecordStatus, ...]

    def applies_to(self, status: str) -> bool:
        return status in self.accepts

    def refusal(self, status: str) -> str:
        """Why one record is refused, e.g. "This record is succeeded; only failed … records"."""
        return f"This record is {status}; {self._only}."

    def refused(self, count: int) -> str:
        """Why ``count`` records of a selection were left as they are."""
        return f"{count} record(s) refused: {self._only}."

    @property
    def _only(self) -> str:
        names = [str(status) for status in self.accepts]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return f"only {listed} records can be {self.done}"


# Sending again a record that succeeded could double it in the target: only what
# failed, may have failed (unknown) or was ignored and thought better of is retried.
RETRY = LedgerAction("retry", "retried", RETRYABLE)
EDIT_AND_RETRY = LedgerAction("edit_payload", "edited and retried", RETRYABLE)
# Ignoring, resolving and assigning are decisions about records waiting for a person.
# A record waiting for a decision is closed by the decision (skip), which records what was
# decided about its candidates; it may still be assigned to whoever takes it.
_CLOSABLE = tuple(status for status in NEEDS_ACTION if status not in UNDECIDED)
IGNORE = LedgerAction("ignore", "ignored", _CLOSABLE)
RESOLVE = LedgerAction("resolve", "resolved", _CLOSABLE)
ASSIGN = LedgerAction("assign", "assigned", NEEDS_ACTION)
# Linking settles a record refused as a duplicate: the target already holds it.
LINK = LedgerAction("link", "linked", (RecordStatus.FAILED,))


class Counts(NamedTuple):
    """What a bulk action did: records changed, and records refused for their status."""

    done: int
    refused: int


def _lock(records: QuerySet[SyncRecord], action: LedgerAction) -> tuple[list[SyncRecord], int]:
    """Lock the selected ledger rows; returns those the action accepts and how many it refuses.

    Only the ledger rows are locked: the caller's queryset may join flows or (nullable) users.
    """
    rows = list(records.select_related("assigned_to").select_for_update(of=("self",)))
    accepted = [r for r in rows if action.applies_to(r.status)]
    return accepted, len(rows) - len(accepted)


def may_have_been_sent(record: SyncRecord) -> bool:
    """Whether the record's last send may have reached the target: its answer never came
    back (unknown, or ignored while unknown)."""
    return record.status == RecordStatus.UNKNOWN or (
        record.status == RecordStatus.IGNORED and record.message.startswith(MAYBE_SENT_MESSAGE)
    )


@transaction.atomic
def ledger_records_retry(*, records: QuerySet[SyncRecord], user: AbstractBaseUser | None) -> Counts:
    """Send records again with the current mapping; returns (queued, refused)."""
    retry, refused = _lock(records, RETRY)
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
        AuditEvent(user=user, action=RETRY.audit, flow_id=r.flow_id, record=r) for r in retry
    )
    return Counts(len(retry), refused)


def ledger_records_retry_code(
    *,
    flow: Flow | None,
    error_code: str,
    user: AbstractBaseUser | None,
    pair: IntegrationPair | None = None,
) -> Counts:
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
    if not EDIT_AND_RETRY.applies_to(record.status):
        raise ValidationError(EDIT_AND_RETRY.refusal(record.status))
    if may_have_been_sent(record):
        raise ValidationError(
            "This record may already be in the target: the answer to its send never came "
            "back. Retry it without editing first, so it is looked up in the target; edit it "
            "only if it then fails."
        )
    AuditEvent.objects.create(
        user=user,
        action=EDIT_AND_RETRY.audit,
        flow_id=record.flow_id,
        record=record,
        detail={"before": record.payload_override or record.transformed_payload, "after": payload},
    )
    record.payload_override = payload
    record.save(update_fields=["payload_override", "updated_at"])
    ledger_records_retry(records=SyncRecord.objects.filter(pk=record.pk), user=user)
    record.refresh_from_db()
    return record


def _note(note: str, action: LedgerAction) -> str:
    note = note.strip()
    if not note:
        raise ValidationError(f"Say why these records are {action.done}: the note is required.")
    return note


def _close(
    *,
    records: QuerySet[SyncRecord],
    user: AbstractBaseUser,
    note: str,
    action: LedgerAction,
    status: RecordStatus,
) -> tuple[Counts, list[int]]:
    """Ignore, resolve or skip: a person closes records with a reason; they are not
    retried. Returns the counts and the ids of the rows closed."""
    note = _note(note, action)
    rows, refused = _lock(records, action)
    now = timezone.now()
    ids = [r.pk for r in rows]
    SyncRecord.objects.filter(pk__in=ids).update(
        status=status,
        resolved_by=user,
        resolved_at=now,
        resolution_note=note,
        next_retry_at=None,
        updated_at=now,
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            user=user,
            action=action.audit,
            flow_id=r.flow_id,
            record=r,
            detail={"note": note, "before": {"status": r.status}},
        )
        for r in rows
    )
    return Counts(len(rows), refused), ids


@transaction.atomic
def ledger_records_ignore(
    *, records: QuerySet[SyncRecord], user: AbstractBaseUser, note: str
) -> Counts:
    """Stop retrying records a person decided not to sync, saying why."""
    counts, _ = _close(
        records=records, user=user, note=note, action=IGNORE, status=RecordStatus.IGNORED
    )
    return counts


@transaction.atomic
def ledger_records_resolve(
    *, records: QuerySet[SyncRecord], user: AbstractBaseUser, note: str
) -> Counts:
    """Mark records resolved by a person (fixed by hand in the target, say), with the reason.

    Only records waiting for a person change; a succeeded or skipped one has
    nothing to resolve.
    """
    counts, _ = _close(
        records=records, user=user, note=note, action=RESOLVE, status=RecordStatus.RESOLVED
    )
    return counts


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
) -> Counts:
    """Give records waiting for a person to someone (None: to nobody) and, unless ``tags``
    is None, tag them. Audited with the previous values."""
    rows, refused = _lock(records, ASSIGN)
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
            action=ASSIGN.audit,
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
    return Counts(len(rows), refused)


@dataclass(frozen=True)
class ExistingTwin:
    """The target's record a record failed as a duplicate of, as the target has it now."""

    duplicate: Duplicate
    value: str  # what it was found by: the clashing value (a contact's name), or its id
    target_id: str
    record: dict

    @property
    def label(self) -> str:
        """ "contact 'Acme Ltd' (5b6f…)": what a person confirms."""
        if self.value == self.target_id:
            return f"{self.duplicate.what} {self.target_id}"
        return f"{self.duplicate.what} '{self.value}' ({self.target_id})"


def ledger_record_duplicate(record: SyncRecord) -> tuple[Duplicate, str] | None:
    """What the record's failure says already exists in its target, and what names it: the
    clashing value from what was sent, or the existing record's id where the system's error
    gave it. None unless the record failed with an "already exists" code of the target
    system (connectors.duplicates) and that is found."""
    if record.status != RecordStatus.FAILED or not record.error_code:
        return None
    flow = record.flow
    table = duplicates_of(flow.target_connection.system)
    duplicate = duplicate_for(table, record.error_code, flow.target_entity)
    if duplicate is None:
        return None
    if duplicate.id_pattern is not None:
        said = f"{record.message}\n{json.dumps(record.target_response, default=str)}"
        match = duplicate.id_pattern.search(said)
        return (duplicate, match["id"]) if match else None
    sent = record.payload_override or record.transformed_payload or {}
    for path in duplicate.value_paths if isinstance(sent, dict) else ():
        value = field_text(sent, path).strip()
        if value:
            return duplicate, value
    return None


def ledger_record_find_existing(*, record: SyncRecord) -> ExistingTwin | None:
    """Look the existing target record up, read-only, by what the failure names.

    None when the target no longer holds it (renamed or archived since): then
    there is nothing to link to, and a retry may simply succeed. A connector
    failure (the target unreachable) is raised as it is.
    """
    found_duplicate = ledger_record_duplicate(record)
    if found_duplicate is None:
        raise ValidationError(
            "This record did not fail because the target already holds it: there is nothing "
            "to link it to."
        )
    duplicate, value = found_duplicate
    entity = record.flow.target_entity
    connector = connector_for(record.flow.target_connection)
    try:
        if duplicate.id_pattern is not None:
            native = connector.read_one(entity, value)
            found = FoundRecord(value, native) if native is not None else None
        else:
            found = connector.find_by_field(entity, duplicate.field, value)
    finally:
        connector.close()
    if found is None:
        return None
    return ExistingTwin(duplicate, value, found.target_id, found.record)


@transaction.atomic
def ledger_record_link(*, record: SyncRecord, target_id: str, user: AbstractBaseUser) -> SyncRecord:
    """Link a record refused as a duplicate to the record the target already holds.

    The existing record is looked up again and must still be the one the person
    confirmed (``target_id``). The ledger row then keeps its id, so the next
    version of the source record updates that record instead of creating a
    second one (clarity.sync.pipeline's known targets read ``TARGET_KNOWN``
    rows), and ends linked with a note saying what it was linked to
    (clarity.sync.matching.twin_link, the one way a link is recorded).
    """
    record = (
        SyncRecord.objects.select_related("flow__target_connection")
        .select_for_update(of=("self",))
        .get(pk=record.pk)
    )
    if not LINK.applies_to(record.status):
        raise ValidationError(LINK.refusal(record.status))
    twin = ledger_record_find_existing(record=record)
    if twin is None or twin.target_id != target_id:
        raise ValidationError(
            "The record in the target is no longer the one shown (renamed, archived or "
            "replaced since): nothing was linked. Open the record again to see what is there now."
        )
    note = f"Linked to the existing {twin.label}, which the target already held."
    twin_link(
        rows=[(record, twin.target_id)],
        target_key="",
        user=user,
        note=note,
        status=RecordStatus.LINKED,
    )
    record.resolved_by = user  # type: ignore[assignment]
    record.resolved_at = timezone.now()
    record.resolution_note = note
    record.next_retry_at = None
    record.save(update_fields=[*_DECIDED_FIELDS, "target_id"])
    return record


# What a person's decision on a record changes.
_DECIDED_FIELDS = ["status", "resolved_by", "resolved_at", "resolution_note", "next_retry_at",
                   "updated_at"]  # fmt: skip

# The decisions on a record that matched several target records, or one in part.
LINK_TO = LedgerAction("link", "linked", UNDECIDED)
CREATE_NEW = LedgerAction("create_new", "created new", UNDECIDED)
SKIP = LedgerAction("skip", "skipped", UNDECIDED)


def _undecided(record: SyncRecord, action: LedgerAction) -> tuple[SyncRecord, MatchDecision]:
    """The record, locked, and its candidates; refused unless it waits for a decision."""
    record = (
        SyncRecord.objects.select_related("flow__target_connection")
        .select_for_update(of=("self",))
        .get(pk=record.pk)
    )
    if not action.applies_to(record.status):
        raise ValidationError(action.refusal(record.status))
    match = MatchDecision.objects.select_for_update().filter(record=record).first()
    if match is None:
        raise ValidationError("This record has no candidates stored: retry it to match again.")
    return record, match


def _send_again(record: SyncRecord, match: MatchDecision, decision: str, user: Any) -> None:
    """A decision that sends the record: pending, unclaimed, and a run queued for it."""
    match.decision = decision
    match.decided_by = user
    match.decided_at = timezone.now()
    match.save(update_fields=["decision", "decided_by", "decided_at", "target_id", "note"])
    record.status = RecordStatus.PENDING
    record.error_code = record.message = ""
    record.next_retry_at = None
    record.claimed_by, record.claimed_until = "", None
    record.save(
        update_fields=[
            "status",
            "error_code",
            "message",
            "next_retry_at",
            "claimed_by",
            "claimed_until",
            "target_id",
            "updated_at",
        ]
    )
    flow_run_enqueue(flow=record.flow, trigger=Trigger.RETRY)


@transaction.atomic
def ledger_record_decide_link(
    *, record: SyncRecord, target_id: str, user: AbstractBaseUser
) -> SyncRecord:
    """Link a record that matched several target records (or one in part) to the one a
    person chose; it is then sent as an update of that record, never as a second one.

    The choice must be one of the candidates shown, and the target must still hold it
    (looked up again, read-only).
    """
    record, match = _undecided(record, LINK_TO)
    chosen = next((c for c in match.candidates if c.get("target_id") == target_id), None)
    if chosen is None:
        raise ValidationError("Choose one of the records shown: nothing was linked.")
    connector = connector_for(record.flow.target_connection)
    try:
        still_there = connector.read_one(record.flow.target_entity, target_id)
    finally:
        connector.close()
    if still_there is None:
        raise ValidationError(
            f"The target no longer holds {chosen.get('label') or target_id} (deleted or merged "
            "since): nothing was linked. Choose another, create new, or skip."
        )
    note = f"Linked by a person to {chosen.get('label') or target_id}, one of the records matched."
    twin_link(rows=[(record, target_id)], target_key="", user=user, note=note)
    match.target_id, match.note = record.target_id, note
    _send_again(record, match, Decision.LINK, user)
    return record


@transaction.atomic
def ledger_record_decide_create(*, record: SyncRecord, user: AbstractBaseUser) -> SyncRecord:
    """Send a record that matched target records as a new one: a person decided none of
    them is it. It is sent once as a create and never matched again."""
    record, match = _undecided(record, CREATE_NEW)
    AuditEvent.objects.create(
        user=user,
        action=CREATE_NEW.audit,
        flow_id=record.flow_id,
        record=record,
        detail={"before": {"status": record.status}, "candidates": match.candidates},
    )
    match.note = "Created new: none of the records matched is this one."
    _send_again(record, match, Decision.CREATE, user)
    return record


@transaction.atomic
def ledger_records_skip(
    *, records: QuerySet[SyncRecord], user: AbstractBaseUser, note: str
) -> Counts:
    """Close records that matched target records without sending them, saying why (the
    target's record is right as it is, say). Only records waiting for a decision."""
    counts, ids = _close(
        records=records, user=user, note=note, action=SKIP, status=RecordStatus.SKIPPED
    )
    MatchDecision.objects.filter(record_id__in=ids).update(
        decision=Decision.SKIP, decided_by=user, decided_at=timezone.now(), note=note.strip()
    )
    return counts
