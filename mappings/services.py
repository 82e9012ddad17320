"""Writes and runs of mappings: compile, try, bump versions, import lookup files.

Plain functions with keyword-only arguments, called alike by the admin, RQ jobs,
the benchmark and (later) the sync core.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import django_rq
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from mappings import selectors
from mappings.compiling import Parts, compile_parts
from mappings.engine import CompileError, Outcome, Plan, Problem, to_json_safe
from mappings.models import (
    MAPPING_FIELDS,
    ImportJob,
    ImportStatus,
    LookupEntry,
    LookupTable,
    Mapping,
    MappingLookup,
    MappingPart,
)

# A Plan holds one expression evaluator and must not be shared between threads.
_plans = threading.local()


def mapping_validate(*, parts: Parts) -> tuple[Problem, ...]:
    """Every compile problem of (possibly unsaved) rows and rules; empty when they compile.

    Tables are compiled without their entries: whether a table exists and how it
    treats a missing key is all a save needs to know.
    """
    try:
        compile_parts(parts, selectors.lookup_tables_all(), {})
    except CompileError as exc:
        return exc.problems
    return ()


def mapping_touch(*, mapping: Mapping, user: Any = None, reason: str = "") -> None:
    """Call in the transaction of every change to a mapping or its rows, rules and the rest.

    The new version makes every worker recompile the plan (plans are cached by
    version), the tables it uses are recorded (they then bump it when they
    change), and one history record of the mapping closes the change: the
    mapping's history lists these records, each with the changes of its rows,
    rules and lookups since the one before (see ``selectors.mapping_history_changes``).
    """
    names = selectors.mapping_parts(mapping=mapping).lookup_names()
    with transaction.atomic():
        Mapping.objects.filter(pk=mapping.pk).update(version=F("version") + 1)
        MappingLookup.objects.filter(mapping=mapping).delete()
        MappingLookup.objects.bulk_create(
            MappingLookup(mapping=mapping, table=table)
            for table in selectors.lookup_tables_named(names=names)
        )
        mapping.refresh_from_db()
        _history_close(mappings=[mapping], user=user, reason=reason)


def _history_close(*, mappings: Iterable[Mapping], user: Any, reason: str) -> None:
    """One history record per mapping, written after the changes it closes.

    "Created" for a mapping with no record yet (the admin saves a new one without).
    """
    mappings = list(mappings)
    recorded = set(
        Mapping.history.filter(id__in=[m.pk for m in mappings]).values_list("id", flat=True)
    )
    for update in (False, True):
        Mapping.history.bulk_history_create(
            [m for m in mappings if (m.pk in recorded) is update],
            update=update,
            default_user=user if getattr(user, "pk", None) else None,
            default_change_reason=reason[:100],
        )


def lookup_tables_touch(
    *,
    table_ids: Iterable[int],
    user: Any = None,
    reason: str = "",
    except_mapping: Mapping | None = None,
) -> None:
    """Call in the transaction of every change to tables or their entries.

    The tables and every mapping using them get a new version, so running
    workers recompile with the entries as they are now; each such mapping's
    history gets a record closing the change (``except_mapping`` closes its own).
    """
    ids = list(table_ids)
    with transaction.atomic():
        LookupTable.objects.filter(pk__in=ids).update(version=F("version") + 1)
        users = selectors.mappings_using_tables(table_ids=ids)
        if except_mapping is not None:
            users = users.exclude(pk=except_mapping.pk)
        mappings = list(Mapping.objects.filter(pk__in=users.values("pk")))
        Mapping.objects.filter(pk__in=[m.pk for m in mappings]).update(version=F("version") + 1)
        if not reason:
            names = ", ".join(t.name for t in LookupTable.objects.filter(pk__in=ids))
            reason = f"Lookup table {names} changed"
        _history_close(mappings=mappings, user=user, reason=reason)


def _by(obj: Any, user: Any) -> None:
    """Name ``user`` on the history record the next save or delete of ``obj`` writes."""
    if getattr(user, "pk", None):
        obj._history_user = user


def mapping_save(*, mapping: Mapping) -> None:
    """Save a mapping's own fields; the ``mapping_touch`` that follows records the change."""
    mapping.full_clean()
    mapping.save_without_historical_record()


def mapping_part_save(*, part: MappingPart, user: Any = None) -> None:
    """Save one row, rule, enrichment, default, aggregation or split of a mapping.

    A part moved to another mapping changes both: the one it left gets a new
    version too, or its running workers would keep mapping with the row.
    """
    with transaction.atomic():
        _by(part, user)
        left = None
        if part.pk is not None:
            left = (
                type(part).objects.filter(pk=part.pk).values_list("mapping_id", flat=True).first()
            )
        part.save()
        reason = f"{part._meta.verbose_name} saved"
        if left is not None and left != part.mapping_id:
            for mapping in Mapping.objects.filter(pk=left):
                mapping_touch(
                    mapping=mapping, user=user, reason=f"{part._meta.verbose_name} moved out"
                )
        mapping_touch(mapping=part.mapping, user=user, reason=reason)


def mapping_parts_delete(*, parts: QuerySet[Any], user: Any = None) -> int:
    """Delete rows or rules (one, or a bulk selection); every mapping they belonged to changes."""
    with transaction.atomic():
        mapping_ids = set(parts.values_list("mapping_id", flat=True))
        count = 0
        for part in parts.select_related("mapping"):
            _by(part, user)
            part.delete()
            count += 1
        for mapping in Mapping.objects.filter(pk__in=mapping_ids):
            mapping_touch(
                mapping=mapping, user=user, reason=f"{parts.model._meta.verbose_name} deleted"
            )
    return count


def lookup_table_save(*, table: LookupTable, user: Any = None) -> None:
    """Save a table's settings (missing-key behaviour, case): the mappings using it recompile."""
    with transaction.atomic():
        _by(table, user)
        table.save()
        lookup_tables_touch(table_ids=[table.pk], user=user)


def lookup_entry_save(*, entry: LookupEntry, user: Any = None) -> None:
    with transaction.atomic():
        _by(entry, user)
        entry.save()
        lookup_tables_touch(table_ids=[entry.table_id], user=user)


def lookup_entries_delete(*, entries: QuerySet[LookupEntry], user: Any = None) -> int:
    """Delete lookup entries (one, or a bulk selection); the mappings using them recompile."""
    with transaction.atomic():
        table_ids = set(entries.values_list("table_id", flat=True))
        count = 0
        for entry in entries:
            _by(entry, user)
            entry.delete()
            count += 1
        lookup_tables_touch(table_ids=table_ids, user=user)
    return count


def mapping_revert(*, mapping: Mapping, record: Any, user: Any = None) -> int:
    """Put a mapping back as it was at one point of its history, in one transaction.

    ``record`` is one of the mapping's history records: its fields, rows, rules,
    enrichments, defaults, aggregations and splits, and the entries of the
    lookup tables it used then, become what they were at that moment. Each
    restored object gets its own history record; the mapping's version goes up.
    Returns how many objects changed. A state that no longer compiles (a table
    it used was since renamed) is refused and nothing changes.
    """
    when = record.history_date
    with transaction.atomic():
        Mapping.objects.select_for_update().filter(pk=mapping.pk).exists()
        changed = 0
        old = record.instance
        for name in MAPPING_FIELDS:
            if getattr(mapping, name) != getattr(old, name):
                setattr(mapping, name, getattr(old, name))
                changed += 1
        mapping_save(mapping=mapping)
        plans = selectors.mapping_restore_plans(mapping=mapping, when=when)
        for plan in plans:
            _restore(plan=plan, user=user)
            changed += len(plan.delete) + len(plan.update) + len(plan.create)
        reason = f"Reverted to {timezone.localtime(when):%Y-%m-%d %H:%M:%S}"
        tables = selectors.restore_plans_tables(plans=plans)
        if tables:
            lookup_tables_touch(table_ids=tables, user=user, reason=reason, except_mapping=mapping)
        mapping_touch(mapping=mapping, user=user, reason=reason)
        try:
            mapping_compile(mapping=mapping)
        except CompileError as exc:
            raise ValidationError(
                [f"As it was then, this mapping does not compile; nothing was reverted. {p.message}"
                 for p in exc.problems]
            ) from exc  # fmt: skip
    return changed


def _restore(*, plan: selectors.RestorePlan, user: Any) -> None:
    """Carry out a restore plan, writing a history record for every object it touches."""
    who = user if getattr(user, "pk", None) else None
    for obj in plan.delete:
        _by(obj, user)
        obj.delete()
    if plan.update:
        bulk_update_with_history(
            [then for _, then in plan.update], plan.model, plan.fields, default_user=who
        )
    if plan.create:
        try:
            with transaction.atomic():
                bulk_create_with_history(plan.create, plan.model, default_user=who)
        except IntegrityError as exc:
            raise ValidationError(
                f"A {plan.model._meta.verbose_name} as it was then refers to something "
                "deleted since (a lookup table?); nothing was reverted."
            ) from exc


def mapping_compile(*, mapping: Mapping) -> Plan:
    """The mapping's plan, compiled once per mapping version (and per thread)."""
    cache: dict[int, tuple[int, Plan]] = _plans.__dict__.setdefault("cache", {})
    cached = cache.get(mapping.pk)
    if cached is not None and cached[0] == mapping.version:
        return cached[1]
    parts = selectors.mapping_parts(mapping=mapping)
    tables = list(selectors.lookup_tables_named(names=parts.lookup_names()))
    entries = selectors.lookup_entries_by_table(table_ids=[t.pk for t in tables])
    plan = compile_parts(parts, tables, entries)
    cache[mapping.pk] = (mapping.version, plan)
    return plan


@dataclass(frozen=True)
class TryResult:
    """What "try it" shows: JSON-ready records, who produced each field, problems in words."""

    outcome: Outcome
    records: list[dict[str, Any]]
    provenance: list[tuple[str, str]]
    problems: list[str]
    skip_reason: str | None


def mapping_try(*, mapping: Mapping, record: Any) -> TryResult:
    """Run the saved mapping on one sample record, tracing which row set each field.

    ``record`` is whatever the consultant pasted, or (once connectors are wired)
    a record fetched from the source system; the engine reports non-objects.
    """
    try:
        plan = mapping_compile(mapping=mapping)
    except CompileError as exc:
        return TryResult(Outcome.FAILED, [], [], [p.message for p in exc.problems], None)
    result = plan.apply(record, trace=True)
    parts = selectors.mapping_parts(mapping=mapping)
    parts.number()  # the ids the plan was built with, so labels name the right rows
    return TryResult(
        outcome=result.outcome,
        records=[to_json_safe(r) for r in result.records],
        provenance=[
            (target, parts.describe(label))
            for target, label in sorted((result.provenance or {}).items())
        ],
        problems=[p.message for p in result.problems],
        skip_reason=result.skip_reason,
    )


# Lookup files ---------------------------------------------------------------

LARGE_IMPORT_ROWS = 5_000


def import_job_create(
    *, file_name: str, file_format: str, content: bytes, row_count: int, user: Any
) -> ImportJob:
    """Store a large upload and have a worker check it (a dry run) outside the request."""
    job = ImportJob.objects.create(
        file_name=file_name,
        file_format=file_format,
        content=content,
        row_count=row_count,
        created_by=user if getattr(user, "pk", None) else None,
    )
    transaction.on_commit(
        lambda: django_rq.get_queue("default").enqueue(
            "mappings.jobs.lookup_import_job", job.pk, False
        )
    )
    return job


def import_job_confirm(*, job: ImportJob) -> None:
    """The consultant saw a clean dry run: import the file for real, in a worker."""
    if job.status != ImportStatus.VALIDATED:
        raise ValueError("Only a checked file that is waiting for confirmation can be imported.")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.IMPORTING, progress=0)
    transaction.on_commit(
        lambda: django_rq.get_queue("default").enqueue(
            "mappings.jobs.lookup_import_job", job.pk, True
        )
    )


def import_job_process(*, job_id: int, confirm: bool) -> ImportJob:
    """Dry-run (``confirm=False``) or import a stored file, recording progress and errors."""
    from mappings.resources import lookup_import

    job = ImportJob.objects.get(pk=job_id)

    def progress(done: int) -> None:
        percent = min(99, done * 100 // max(job.row_count, 1))
        ImportJob.objects.filter(pk=job.pk).update(progress=percent)

    try:
        result = lookup_import(
            content=bytes(job.content),
            file_format=job.file_format,
            dry_run=not confirm,
            user=job.created_by,
            progress=progress,
        )
    except Exception as exc:
        job.status, job.errors = ImportStatus.FAILED, [{"row": None, "error": str(exc)}]
        job.save(update_fields=["status", "errors", "updated_at"])
        raise
    job.totals = {k: v for k, v in result.totals.items() if v}
    job.errors = [
        {"row": row.number, "error": "; ".join(row.error.messages)}
        for row in result.invalid_rows[:1000]
    ] + [{"row": None, "error": str(e.error)} for e in result.base_errors]
    invalid = result.has_errors() or result.has_validation_errors()
    if invalid:
        job.status = ImportStatus.INVALID if not confirm else ImportStatus.FAILED
    else:
        job.status = ImportStatus.DONE if confirm else ImportStatus.VALIDATED
    job.progress = 100
    job.save(update_fields=["status", "progress", "totals", "errors", "updated_at"])
    return job
