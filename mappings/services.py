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
from django.db import transaction
from django.db.models import F

from mappings import selectors
from mappings.compiling import Parts, compile_parts
from mappings.engine import CompileError, Outcome, Plan, Problem, to_json_safe
from mappings.models import ImportJob, ImportStatus, LookupTable, Mapping, MappingLookup

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


def mapping_changed(*, mapping: Mapping) -> None:
    """Call after rows or rules changed: new version, and the tables it uses recorded."""
    names = selectors.mapping_parts(mapping=mapping).lookup_names()
    with transaction.atomic():
        Mapping.objects.filter(pk=mapping.pk).update(version=F("version") + 1)
        MappingLookup.objects.filter(mapping=mapping).delete()
        MappingLookup.objects.bulk_create(
            MappingLookup(mapping=mapping, table=table)
            for table in selectors.lookup_tables_named(names=names)
        )
    mapping.refresh_from_db(fields=["version"])


def lookup_tables_changed(*, table_ids: Iterable[int]) -> None:
    """Call after entries or settings of tables changed: every mapping using them recompiles."""
    ids = list(table_ids)
    LookupTable.objects.filter(pk__in=ids).update(version=F("version") + 1)
    Mapping.objects.filter(
        pk__in=selectors.mappings_using_tables(table_ids=ids).values("pk")
    ).update(version=F("version") + 1)


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
