"""One flow run: ledger first, transform, load in batches, outcomes, and only then the cursor.

The order is what keeps the promises: every record read gets its ledger row
(keyed by flow, source id and version) before anything is sent, so nothing is
lost; a row already delivered at that version is never sent again, and a row
is pushed only by the worker holding its claim, so nothing is doubled; the
cursor moves only after a page's outcomes are committed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis.exceptions
from django.db import DataError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from clarity.models import (
    ErrorKind,
    Flow,
    ReadMode,
    RecordStatus,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
)
from clarity.models.ledger import IN_FLIGHT, NEEDS_ACTION, RESENDABLE, SETTLED, TARGET_KNOWN
from clarity.sync import bulk, outcomes, storable
from clarity.sync.admission import run_refusal
from clarity.sync.both_ways import settle_both_ways
from clarity.sync.dependencies import dependency_hint
from clarity.sync.fullscan import scan_page_changed, scan_page_remember
from clarity.sync.keys import field_text, idempotency_key, part_key, source_version
from clarity.sync.locks import (
    LeaseKeeper,
    claim_lease,
    flow_lease_acquire,
    flow_lease_release,
    new_owner,
)
from clarity.sync.matching import rows_match
from clarity.sync.queues import RUN_FLOW, enqueue, pair_queue_name, run_job_id, run_jobs_pending
from clarity.sync.readahead import ReadAhead
from clarity.sync.schedules import poll_interval_after_run
from connectors.base import ChangePage, Connector
from connectors.configs import connector_for
from connectors.errors import ConnectorError, RetryLaterError
from mappings.engine import CompileError, Outcome, Plan, to_json_safe
from mappings.services import mapping_compile

logger = logging.getLogger(__name__)


# A run whose flow another run holds waits this long, unless that run hands over sooner.
BUSY_DEFER_SECONDS = 15


class RunDeferred(Exception):
    """The run must continue later (a rate limit, a system whose circuit breaker is
    open, or another worker holding the flow)."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason


class FlowPaused(Exception):
    """A refused login: the flow stops until a person reconnects it.

    The run fails with the reason and the exception goes on to the caller, which
    pauses the flow through the flow services (``flow_pause``, clarity.jobs):
    the sync core records runs and records, the services change flows.
    """

    def __init__(self, flow_id: int, reason: str) -> None:
        super().__init__(reason)
        self.flow_id = flow_id
        self.reason = reason


class LeaseLost(Exception):
    """This worker's lease on the flow lapsed and another worker holds it now."""


class RunRefused(Exception):
    """The flow may not run now (paused, or its pair awaits Launch): the run fails, saying why."""


# Outages of the servers themselves, not of the systems synced: the run waits for the sweeper.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, redis.exceptions.ConnectionError,
                         redis.exceptions.TimeoutError)  # fmt: skip


# Bytes a write request adds around its records (the envelope, headers are not counted).
REQUEST_ENVELOPE = 1024

# What PostgreSQL (or the JSON written for it) answers a value it cannot store.
UNSTORABLE_ERRORS = (DataError, ValueError, TypeError)


@dataclass
class Tally:
    total: int = 0
    succeeded: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, rows: Iterable[SyncRecord]) -> None:
        for row in rows:
            if row.status == RecordStatus.SUCCEEDED:
                self.succeeded += 1
            elif row.status in NEEDS_ACTION:
                self.failed += 1
            elif row.status == RecordStatus.SKIPPED:
                self.skipped += 1


@dataclass
class FlowContext:
    flow: Flow
    run: SyncRun
    owner: str
    source: Connector
    target: Connector
    plan: Plan | None
    mapping_version: int | None
    source_key: str
    target_key: str
    target_reference: str  # what tells two target records apart: the flow's, else the system's
    batch_size: int
    counterpart: Flow | None = None
    tally: Tally = field(default_factory=Tally)
    keeper: LeaseKeeper | None = None

    @classmethod
    def build(cls, run: SyncRun, owner: str) -> FlowContext:
        flow = run.flow
        source = connector_for(flow.source_connection)
        target = connector_for(flow.target_connection)
        mapping = flow.mapping
        target_schema = target.describe(flow.target_entity)
        return cls(
            flow=flow,
            run=run,
            owner=owner,
            source=source,
            target=target,
            plan=mapping_compile(mapping=mapping) if mapping else None,
            mapping_version=mapping.version if mapping else None,
            source_key=source.describe(flow.source_entity).key_field,
            target_key=target_schema.key_field,
            target_reference=flow.target_reference_field or target_schema.reference_field or "",
            batch_size=max(1, min(flow.batch_size, target.max_batch_size(flow.target_entity))),
            counterpart=flow.counterpart(),
        )

    def refresh_plan(self) -> None:
        """Pick up a mapping changed during the run: runs use it from their next record.

        One cheap query for the version; the plan is recompiled (cached per
        version) only when it moved, e.g. a lookup entry was deleted mid-run.
        """
        mapping = self.flow.mapping
        if mapping is None:
            return
        version = (
            type(mapping).objects.filter(pk=mapping.pk).values_list("version", flat=True).first()
        )
        if version is None or version == self.mapping_version:
            return
        mapping.refresh_from_db()
        self.plan = mapping_compile(mapping=mapping)
        self.mapping_version = mapping.version


def flow_run_execute(*, run_id: int) -> SyncRun:
    """Run (or continue) one queued run; safe to call twice for the same run.

    A run left ``running`` by a worker that died is continued here once its
    flow lease expired (the sweeper enqueues it again): the ledger says what
    is done, what was never sent, and what may have been sent (a claim that
    lapsed), which is settled by looking it up in the target first.
    """
    run = SyncRun.objects.select_related(
        "flow__pair", "flow__mapping", "flow__source_connection", "flow__target_connection"
    ).get(pk=run_id)
    if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return run
    owner = new_owner()
    if not flow_lease_acquire(flow_id=run.flow_id, owner=owner):
        raise RunDeferred(
            BUSY_DEFER_SECONDS,
            "Another worker is running this flow; this run continues after it.",
        )
    keeper = LeaseKeeper(flow_id=run.flow_id, owner=owner).start()
    ctx: FlowContext | None = None
    try:
        # Asked again under the lease: the flow may have been paused, or its pair set to
        # await Launch, since the run was queued (or deferred by a rate limit).
        if refusal := run_refusal(run.flow):
            raise RunRefused(refusal)
        resumed = run.status == RunStatus.RUNNING
        SyncRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, started_at=run.started_at or timezone.now(), message=""
        )
        run.refresh_from_db()
        ctx = FlowContext.build(run, owner)
        ctx.keeper = keeper
        if resumed:
            # Progress goes on from what the dead worker saved, not from zero.
            ctx.tally = Tally(run.total_count, run.succeeded_count, run.skipped_count,
                              run.failed_count)  # fmt: skip
        deliver_due(ctx)
        if run.trigger != Trigger.RETRY:
            # A retry sends the records a person chose again; reading the source
            # too would count the cursor's last record as one more, skipped.
            read_and_deliver(ctx)
        _finish(ctx)
    except RunRefused as exc:
        # Nothing read or written by this start; what earlier starts left in the ledger
        # (a deferred run's records) is delivered by the flow's next run.
        _fail_run(run, f"Not run: {exc}")
    except LeaseLost:
        # Another worker took the flow over (ours lapsed); it carries on with the run.
        return run
    except RetryLaterError as exc:
        # A rate limit, or a system that is down (its breaker open): wait, fail nothing.
        _defer(run, exc.retry_after, str(exc))
        raise RunDeferred(exc.retry_after, str(exc)) from exc
    except FlowPaused as exc:
        _fail_run(run, str(exc))
        raise
    except ConnectorError as exc:
        _fail_run(run, f"{exc} Records read so far are in the ledger and will be retried.")
    except CompileError as exc:
        _fail_run(run, f"The flow's mapping does not compile; fix it first: {exc}")
    except INFRASTRUCTURE_ERRORS:
        # PostgreSQL or Redis went away mid-run. The run is not failed: it stays
        # running with its ledger as it was, and once its lease is free the
        # sweeper enqueues it again — the records are not lost with the job.
        logger.warning("run %s interrupted by an outage; the sweeper resumes it", run.pk)
        raise
    except Exception as exc:
        _fail_run(run, f"Unexpected error ({type(exc).__name__}); the operator's log has details.")
        raise
    finally:
        keeper.stop()
        if ctx is not None:
            ctx.source.close()
            ctx.target.close()
        with contextlib.suppress(*INFRASTRUCTURE_ERRORS):  # else the lease expires by itself
            flow_lease_release(flow_id=run.flow_id, owner=owner)
            _hand_over(run.flow)
    run.refresh_from_db()
    return run


def _hand_over(flow: Flow) -> None:
    """Start the flow's next waiting run now: one deferred because this run held the lease
    (``BUSY_DEFER_SECONDS``) would otherwise wait out its delay — seconds that matter when
    events trigger runs. A waiting run whose job is not pending either (a worker took it
    and is deferring it right now) gets one too. A later job of it finds the run done."""
    now = timezone.now()
    waiting = (
        SyncRun.objects.filter(flow_id=flow.pk, status=RunStatus.QUEUED)
        .filter(
            Q(not_before__isnull=True)
            | Q(not_before__lte=now + timedelta(seconds=BUSY_DEFER_SECONDS))
        )
        .order_by("pk")
        .first()
    )
    if waiting is None:
        return
    queue_name = pair_queue_name(flow.pair_id)
    # Only a job due now counts: a worker may have deferred this run (its lease attempt
    # fell before our release) between our read and here, leaving a job due only after
    # BUSY_DEFER_SECONDS — seen as a 15 s stall in benchmarks/realtime_latency.py.
    if waiting.not_before is None and waiting.pk in run_jobs_pending(queue_name, scheduled=False):
        return  # its job waits in the queue already
    SyncRun.objects.filter(pk=waiting.pk).update(not_before=None)
    enqueue(queue_name, RUN_FLOW, waiting.pk, job_id=run_job_id(waiting.pk))


def _fail_run(run: SyncRun, message: str) -> None:
    # Escaped: a system's error text may echo a character PostgreSQL cannot store.
    SyncRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        message=storable.escaped_text(message),
    )


def _defer(run: SyncRun, seconds: float, reason: str) -> None:
    SyncRun.objects.filter(pk=run.pk).update(
        status=RunStatus.QUEUED, message=storable.escaped_text(f"Waiting {seconds:.0f}s: {reason}")
    )


def _finish(ctx: FlowContext) -> None:
    tally = ctx.tally
    status = RunStatus.PARTIAL if tally.failed else RunStatus.SUCCEEDED
    _save_progress(ctx, status=status, finished_at=timezone.now())
    poll_interval_after_run(run=ctx.run)  # changes found: an adaptive poll comes soon


def _save_progress(ctx: FlowContext, **extra: Any) -> None:
    tally = ctx.tally
    SyncRun.objects.filter(pk=ctx.run.pk).update(
        total_count=tally.total,
        succeeded_count=tally.succeeded,
        skipped_count=tally.skipped,
        failed_count=tally.failed,
        **extra,
    )


def _check_lease(ctx: FlowContext) -> None:
    """Stop before sending anything if the flow is no longer ours (see LeaseKeeper)."""
    if ctx.keeper is not None and ctx.keeper.lost:
        raise LeaseLost()


def read_and_deliver(ctx: FlowContext) -> None:
    flow = ctx.flow
    # What is done already (retried first, or done before a resume) comes on top
    # of the source's total: together they are what the run's bar fills up to.
    done_before, expected = ctx.tally.succeeded + ctx.tally.skipped + ctx.tally.failed, None
    try:
        # The next page is read while this one is stored and sent (see readahead).
        with ReadAhead(source_pages(ctx)) as pages:
            for page in pages:
                _check_lease(ctx)
                if expected is None and page.total is not None:
                    expected = done_before + page.total
                    SyncRun.objects.filter(pk=ctx.run.pk).update(expected_total=expected)
                records, versions, scanned = page.records, None, None
                if flow.read_mode == ReadMode.FULL_SCAN:
                    scanned = scan_page_changed(
                        flow=flow, records=records, source_key=ctx.source_key
                    )
                    records, versions = scanned.records, scanned.versions
                    ctx.tally.total += scanned.unchanged
                    ctx.tally.skipped += scanned.unchanged
                fresh, doubtful = ledger_first(ctx, records, versions)
                settle_and_resend(ctx, doubtful)
                deliver(ctx, fresh)
                if scanned is not None:
                    scan_page_remember(seen=scanned.seen)  # last, as the cursor
                if page.cursor is not None and page.cursor != flow.cursor:
                    # Cursor last: only after every outcome of the page is committed.
                    Flow.objects.filter(pk=flow.pk).update(cursor=page.cursor)
                    flow.cursor = page.cursor
                _save_progress(ctx)
    except ConnectorError as exc:
        if exc.kind == ErrorKind.AUTH:
            raise FlowPaused(flow.pk, login_refused_reason(exc)) from exc
        raise


def login_refused_reason(exc: ConnectorError) -> str:
    """Why a flow is paused: one pause and one message instead of failing every record."""
    return (
        f"Paused because a login was refused: {exc} "
        "Reconnect the connection, then enable the flow again."
    )


def source_pages(ctx: FlowContext) -> Iterator[ChangePage]:
    """What the flow reads: the records an event named (a targeted run), every record (full
    scan), or the changes since its cursor by the column the flow names or else the
    system's own marker. A targeted read's pages carry no cursor: it moves only on polls."""
    flow, source, run = ctx.flow, ctx.source, ctx.run
    if run.target_ids is not None:
        keys = [str(key) for key in run.target_ids]
        return source.read_keys(flow.source_entity, keys, field=run.target_field or None)
    if flow.read_mode == ReadMode.FULL_SCAN:
        return source.read_all(flow.source_entity)
    if flow.change_field:
        return source.read_changes_by(flow.source_entity, flow.change_field, flow.cursor or None)
    return source.read_changes(flow.source_entity, flow.cursor or None)


def ledger_first(
    ctx: FlowContext, records: Sequence[dict[str, Any]], versions: Sequence[str] | None = None
) -> tuple[list[SyncRecord], list[SyncRecord]]:
    """Write a ledger row for every record read; returns (never sent, maybe sent) rows to do.

    A pending row whose claim lapsed belonged to a worker that died while it
    may have been sending it: it goes to settling (look it up in the target),
    never straight back to the target. Rows another live worker holds are left
    to it.
    """
    fresh: dict[str, SyncRecord] = {}
    unstorable: list[SyncRecord] = []
    for index, record in enumerate(records):
        row = ledger_row(ctx, record, versions[index] if versions else None)
        fresh[row.idempotency_key] = row
        if row.status == RecordStatus.FAILED:
            unstorable.append(row)
    rows = _store(ctx, list(fresh.values()))
    ctx.tally.total += len(rows)
    ctx.tally.skipped += sum(1 for r in rows if r.status in SETTLED)
    stored = {id(r) for r in rows}  # the rows inserted now are the objects built above
    ctx.tally.add(r for r in unstorable if id(r) in stored)
    now = timezone.now()
    never_sent = [r for r in rows if r.status == RecordStatus.PENDING and not r.claimed_until]
    maybe_sent = [
        r
        for r in rows
        if (r.status == RecordStatus.UNKNOWN and (not r.claimed_until or r.claimed_until < now))
        or (r.status == RecordStatus.PENDING and r.claimed_until and r.claimed_until < now)
    ]
    return never_sent, maybe_sent


def ledger_row(ctx: FlowContext, record: dict[str, Any], version: str | None = None) -> SyncRecord:
    """The ledger row of one record read, not yet stored: its id, version, idempotency key,
    and, where the ledger cannot hold the record as read, failed saying which field and why.

    A validate run (clarity.sync.validation) builds the same rows and never stores them,
    so it names a record and fails an unstorable one exactly as a real run does.
    """
    flow = ctx.flow
    source_id = field_text(record, ctx.source_key) or source_version(record, "")
    if version is None:
        version = source_version(record, flow.source_version_field)
    business_key = field_text(record, flow.business_key_field)
    problems = storable.problems(record)
    if len(source_id) > storable.SOURCE_ID_MAX:
        name = f"{ctx.source_key} (the record's id)"
        problems.append(storable.text_problem(source_id, name, limit=storable.SOURCE_ID_MAX))
    if problems:
        source_id, version, business_key = (
            storable.escaped_text(source_id),
            storable.escaped_text(version),
            storable.escaped_text(business_key),
        )
    row = SyncRecord(
        run=ctx.run,
        flow=flow,
        pair_id=flow.pair_id,
        source_id=source_id[:200],
        source_version=version[:100],
        business_key=business_key[:200],
        idempotency_key=idempotency_key(flow.pk, source_id, version),
        source_payload=storable.escaped(record) if problems else record,
    )
    if problems:
        _mark_unstorable(ctx, row, problems)
    return row


def _mark_unstorable(ctx: FlowContext, row: SyncRecord, problems: Sequence[str]) -> None:
    """A record the ledger cannot hold as read fails alone, saying which field and why."""
    source = ctx.flow.source_connection.name
    outcomes.mark_failed(
        row,
        kind=ErrorKind.DATA,
        code="unstorable_value",
        message=f"This record cannot be stored as {source} sent it, so it was not synced: "
        f"{'; '.join(problems)}. Correct it in {source}; its next change is synced. (The "
        "record is shown here with those characters escaped.)",
    )


def _store(ctx: FlowContext, rows: list[SyncRecord]) -> list[SyncRecord]:
    """Insert a page's ledger rows in one statement; should PostgreSQL still refuse one
    (a value ``storable`` did not foresee), row by row, so only that record fails."""
    try:
        with transaction.atomic():
            return bulk.rows_store(rows)
    except UNSTORABLE_ERRORS:
        logger.warning("flow %s: a ledger page was refused; storing it row by row", ctx.flow.pk)
    stored: list[SyncRecord] = []
    for row in rows:
        try:
            with transaction.atomic():
                stored += bulk.rows_store([row])
            continue
        except UNSTORABLE_ERRORS as exc:
            reason = storable.escaped_text(str(exc).splitlines()[0] if str(exc) else "")
            problem = f"(the record): PostgreSQL refused it ({type(exc).__name__}: {reason})"
        row.source_payload = {"unstorable": storable.escaped_text(repr(row.source_payload))}
        _mark_unstorable(ctx, row, [problem])
        with transaction.atomic():
            stored += bulk.rows_store([row])
        ctx.tally.add([row])
    return stored


def deliver_due(ctx: FlowContext) -> None:
    """Rows left over: never sent, maybe sent by a dead worker, transient failures due."""
    now = timezone.now()
    due = SyncRecord.objects.filter(flow=ctx.flow).filter(
        Q(status=RecordStatus.PENDING, claimed_until__isnull=True)
        | Q(status=RecordStatus.UNKNOWN, claimed_until__isnull=True)
        | Q(status__in=IN_FLIGHT, claimed_until__lt=now)
        | Q(status=RecordStatus.FAILED, error_kind=ErrorKind.TRANSIENT, next_retry_at__lte=now)
    )
    ids = list(due.values_list("pk", flat=True)[:10_000])
    if ids:
        # Counted before sending: a retry run's page shows "40 of 100 done".
        ctx.tally.total += len(ids)
        _save_progress(ctx)
    for start in range(0, len(ids), 1000):
        _check_lease(ctx)
        chunk = SyncRecord.objects.filter(pk__in=ids[start : start + 1000])
        chunk.update(run=ctx.run)  # the run's ledger link lists what it retried
        rows = list(chunk)
        maybe_sent = [
            r
            for r in rows
            if r.status == RecordStatus.UNKNOWN
            or (r.status == RecordStatus.PENDING and r.claimed_until is not None)
        ]
        settle_and_resend(ctx, maybe_sent)
        doubtful = {r.pk for r in maybe_sent}
        deliver(ctx, [r for r in rows if r.pk not in doubtful], retry=True)


def settle_and_resend(ctx: FlowContext, rows: Sequence[SyncRecord]) -> None:
    """Rows that may have reached the target: look each up; only those not there are sent
    again, after their backoff.

    Why: a worker killed between sending a batch and storing its outcomes
    leaves rows pending under a lapsed claim. Sending them again blind would
    double them (or, where the target refuses a second ContactNumber, fail
    them as duplicates); the lookup by the flow's target reference settles
    each as succeeded when it arrived, and as a retry due later when it did not.
    """
    if not rows:
        return
    claimed = _claim(ctx, rows, statuses=list(IN_FLIGHT))
    finished: list[SyncRecord] = []
    doubtful: list[SyncRecord] = []
    for row in claimed:
        if not row.transformed_payload:
            # Died before it was even transformed: transform it to know its reference.
            produced = produce(ctx, row)
            if produced is None:
                finished.append(row)  # skipped or failed by the mapping: nothing was sent
                continue
            if len(produced) > 1:
                # Split now: each part may have been sent, so each is looked up on its own.
                parts = _claim(ctx, _split(ctx, row, produced), statuses=[RecordStatus.PENDING])
                finished.append(row)
                for part in parts:
                    part.status = RecordStatus.UNKNOWN
                doubtful += parts
                continue
            row.transformed_payload = produced[0]
        row.status = RecordStatus.UNKNOWN
        doubtful.append(row)
    outcomes.save(finished)
    ctx.tally.add(finished)
    settle_unknown(ctx, doubtful)
    # What never arrived is not sent again here: it waits for its backoff like any retry
    # (outcomes.schedule_retry), and a later run sends it (deliver_due).
    ctx.tally.add(doubtful)


def deliver(ctx: FlowContext, rows: Sequence[SyncRecord], *, retry: bool = False) -> None:
    """Transform, then send batch by batch, claiming each batch just before it is sent.

    Why claim per batch (not the whole page up front): a claim marks rows that
    may be in flight. Held only around the one batch being sent, a worker
    killed mid-run leaves at most that batch to settle by lookup, and every
    other row is known never to have been sent.
    """
    statuses = RESENDABLE if retry else (RecordStatus.PENDING,)
    rows = [r for r in rows if r.status in statuses]
    ready, done = transform(ctx, rows)
    ready, too_large = within_request_size(ctx, ready)
    done += too_large
    outcomes.save(done)
    ctx.tally.add(done)
    for candidates in _batches(ctx, ready):
        _check_lease(ctx)
        batch = _claim(ctx, candidates, statuses=statuses)
        if not batch:
            continue
        if ctx.keeper is not None:
            ctx.keeper.hold(r.pk for r in batch)
        decided: list[SyncRecord] = []
        try:
            load(ctx, batch, decided)
        except RetryLaterError as exc:
            rest = _unanswered(ctx, batch, decided)
            if exc.outcome_unknown:
                # An earlier try of this call may have landed: settle by lookup, not resend.
                _mark_unknown(rest)
            else:
                _release(rest)
            raise
        except FlowPaused:
            _release(_unanswered(ctx, batch, decided))
            raise
        outcomes.save(batch)
        if ctx.keeper is not None:
            ctx.keeper.hold(())
        ctx.tally.add(batch)
        _save_progress(ctx)


def _unanswered(
    ctx: FlowContext, batch: Sequence[SyncRecord], decided: Sequence[SyncRecord]
) -> list[SyncRecord]:
    """The rows of an interrupted batch still without an answer; the halves of it that were
    answered before the interruption keep their outcomes (saved here)."""
    outcomes.save(decided)
    ctx.tally.add(decided)
    answered = {r.pk for r in decided}
    return [r for r in batch if r.pk not in answered]


def within_request_size(
    ctx: FlowContext, rows: Sequence[SyncRecord]
) -> tuple[list[SyncRecord], list[SyncRecord]]:
    """Rows a request can carry, and rows failed here because alone they exceed the target's
    request size (sending them would only have the whole batch refused)."""
    limit = ctx.target.max_request_bytes(ctx.flow.target_entity)
    if limit is None:
        return list(rows), []
    fits: list[SyncRecord] = []
    too_large: list[SyncRecord] = []
    for row in rows:
        size = ctx.target.request_bytes(ctx.flow.target_entity, row.transformed_payload)
        if size + REQUEST_ENVELOPE > limit:
            _mark_too_large(ctx, row, size=size, limit=limit)
            too_large.append(row)
        else:
            fits.append(row)
    return fits, too_large


def _batches(ctx: FlowContext, rows: Sequence[SyncRecord]) -> Iterator[list[SyncRecord]]:
    """The rows in batches of at most the batch size and, where the target has one, its
    request size (a batch of fine records can still add up to more than a request holds)."""
    entity = ctx.flow.target_entity
    limit = ctx.target.max_request_bytes(entity)
    batch: list[SyncRecord] = []
    size = REQUEST_ENVELOPE
    for row in rows:
        grows = ctx.target.request_bytes(entity, row.transformed_payload) + 2 if limit else 0
        if batch and (len(batch) >= ctx.batch_size or (limit and size + grows > limit)):
            yield batch
            batch, size = [], REQUEST_ENVELOPE
        batch.append(row)
        size += grows
    if batch:
        yield batch


def _mark_too_large(
    ctx: FlowContext, row: SyncRecord, *, size: int, limit: int | None, refused: bool = False
) -> None:
    """Fail one record for its size, saying how large it is and what the target takes."""
    target = ctx.flow.target_connection.name
    if refused:
        said = (f"{target} refused it as larger than one request may be (HTTP 413), even "
                "sent on its own")  # fmt: skip
    else:
        said = f"{target} accepts at most {_kb(limit)} KB per request"
    outcomes.mark_failed(
        row,
        kind=ErrorKind.DATA,
        code="too_large",
        message=f"This record is {_kb(size)} KB; {said}. Make it smaller (fewer lines, "
        "shorter notes or descriptions), then retry it.",
    )


def _kb(size: int | None) -> str:
    kb = (size or 0) / 1024
    return f"{kb:,.0f}" if kb >= 10 else f"{kb:,.1f}"


def _claim(
    ctx: FlowContext, rows: Sequence[SyncRecord], *, statuses: Sequence[str]
) -> list[SyncRecord]:
    """Take the rows no other live worker holds; only the holder may send them.

    One UPDATE; the claimed rows are read back only when some were not taken.
    """
    if not rows:
        return []
    now = timezone.now()
    ids = [r.pk for r in rows]
    taken = (
        SyncRecord.objects.filter(pk__in=ids, status__in=statuses)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now) | Q(claimed_by=ctx.owner))
        .update(claimed_by=ctx.owner, claimed_until=now + claim_lease())
    )
    if taken == len(rows):
        mine = list(rows)
    else:
        held = set(
            SyncRecord.objects.filter(pk__in=ids, claimed_by=ctx.owner).values_list("pk", flat=True)
        )
        mine = [r for r in rows if r.pk in held]
    for row in mine:
        row.claimed_by = ctx.owner
        row.claimed_until = now + claim_lease()
    return mine


def _mark_unknown(rows: Sequence[SyncRecord]) -> None:
    """Maybe sent: unclaimed and unknown, so the run that goes on looks them up first."""
    for row in rows:
        row.status = RecordStatus.UNKNOWN
        row.message = "Sent, but the answer never came back; checking the target."
    outcomes.save(rows)


def _release(rows: Sequence[SyncRecord]) -> None:
    """Hand rows back unsent (a 429 or a refused login: the target did nothing)."""
    SyncRecord.objects.filter(pk__in=[r.pk for r in rows]).update(
        claimed_by="", claimed_until=None, status=RecordStatus.PENDING
    )


def transform(
    ctx: FlowContext, rows: Sequence[SyncRecord]
) -> tuple[list[SyncRecord], list[SyncRecord]]:
    """Map each row; returns (ready to send, finished here as skipped, failed or split).

    A source row the mapping splits is not sent itself: each record it
    produced becomes a part row of its own (see ``_split``), and the parts not
    sent yet join the rows to send.
    """
    ready: list[SyncRecord] = []
    done: list[SyncRecord] = []
    if rows:
        ctx.refresh_plan()
    for row in rows:
        row.attempts += 1
        row.run = ctx.run
        row.mapping_version = ctx.mapping_version
        produced = produce(ctx, row)
        if produced is None:
            done.append(row)
        elif len(produced) > 1:
            ready += _split(ctx, row, produced)
            done.append(row)
        else:
            row.transformed_payload = produced[0]
            ready.append(row)
    # A part already among the rows (left over, and its source row split again) is sent once.
    unique: dict[int, SyncRecord] = {}
    for row in ready:
        unique.setdefault(row.pk, row)
    ready = list(unique.values())
    unknown = known_targets(ctx, ready)
    # Not known yet: the target may hold it already (typed in by hand); see clarity.sync.matching.
    undecided = rows_match(
        flow=ctx.flow, target=ctx.target, target_key=ctx.target_key, rows=unknown
    )
    if undecided:
        waiting = {id(row) for row in undecided}
        ready = [row for row in ready if id(row) not in waiting]
        done += undecided
    if ctx.counterpart is not None:
        ready, settled = settle_both_ways(ctx.flow, ctx.counterpart, ready, ctx.target.read_one)
        done += settled
    return ready, done


def produce(ctx: FlowContext, row: SyncRecord) -> list[dict[str, Any]] | None:
    """The records to send for this row, or None when the mapping skipped or failed it.

    A part row gets its own record of the source record's split, mapped again
    with the current mapping: a retry sends what the mapping makes now.
    """
    if row.payload_override is not None:
        return [dict(row.payload_override)]
    if ctx.plan is None:
        return [dict(row.source_payload)]
    result = ctx.plan.apply(row.source_payload)
    if result.outcome == Outcome.SKIPPED:
        outcomes.mark_skipped(row, reason=result.skip_reason or "Skipped by a rule.")
        return None
    if result.outcome == Outcome.FAILED or not result.records:
        problems = result.problems
        first = problems[0] if problems else None
        outcomes.mark_failed(
            row,
            kind=outcomes.PROBLEM_KINDS[first.kind] if first else ErrorKind.CONFIG,
            code=str(first.code) if first else "no_output",
            message="; ".join(p.message for p in problems) or "The mapping produced no record.",
        )
        return None
    records = [to_json_safe(record) for record in result.records]
    if not row.part:
        return records
    if row.part > len(records):
        outcomes.mark_failed(
            row,
            kind=ErrorKind.CONFIG,
            code="split_part_gone",
            message=f"This was part {row.part} of a split, but the mapping now splits the source "
            f"record into {len(records)} record(s). Check the mapping's split; then resolve or "
            "retry the source record's parts.",
        )
        return None
    return [records[row.part - 1]]


def _split(ctx: FlowContext, row: SyncRecord, produced: list[dict[str, Any]]) -> list[SyncRecord]:
    """Give each record a split produced its own ledger row; returns the parts to send now.

    Each part has its own idempotency key (the source row's, numbered), outcome
    and target id, so it is retried, looked up after a lost answer, and
    updated on the next version on its own. The split is refused (the source
    row fails) where the flow could not deliver the parts safely.
    """
    if split_refused(ctx, row, produced):
        return []
    parts = bulk.rows_store(
        [
            SyncRecord(
                run=ctx.run,
                flow=ctx.flow,
                pair_id=ctx.flow.pair_id,
                parent=row,
                part=number,
                source_id=row.source_id,
                source_version=row.source_version,
                business_key=row.business_key,
                idempotency_key=part_key(row.idempotency_key, number),
                source_payload=row.source_payload,
                transformed_payload=payload,
                mapping_version=ctx.mapping_version,
            )
            for number, payload in enumerate(produced, start=1)
        ]
    )
    outcomes.mark_split(row, parts=len(produced))
    ctx.tally.total += len(parts) - 1  # the parts are counted instead of their source row
    send = []
    for part in parts:
        # Parts stored before (a source row split again) go on as the ledger says:
        # only those never sent and held by nobody are sent from here.
        if part.status == RecordStatus.PENDING and part.claimed_until is None:
            part.attempts += 1
            part.run = ctx.run
            part.mapping_version = ctx.mapping_version
            part.transformed_payload = produced[part.part - 1]
            send.append(part)
    return send


def split_refused(ctx: FlowContext, row: SyncRecord, produced: list[dict[str, Any]]) -> bool:
    """Fail the source row (and return True) when the flow could not deliver its parts."""
    refusal = _split_refusal(ctx, produced)
    if refusal:
        outcomes.mark_failed(row, kind=ErrorKind.CONFIG, code="split_undeliverable",
                             message=refusal)  # fmt: skip
    return bool(refusal)


def _split_refusal(ctx: FlowContext, produced: list[dict[str, Any]]) -> str:
    """Why the flow cannot deliver these parts, or "" when it can."""
    count = len(produced)
    if ctx.counterpart is not None:
        return (
            f"The mapping splits this record into {count} records, but this flow syncs both "
            "ways, where each record has exactly one twin. Remove the split from the mapping, "
            "or stop syncing this entity back."
        )
    target = ctx.flow.target_connection.name
    reference = ctx.flow.target_reference_field
    if reference:
        # The flow's reference is how a write whose answer was lost is looked up.
        values = [field_text(payload, reference) for payload in produced]
        if "" in values or len(set(values)) < count:
            return (
                f"The mapping splits this record into {count} records, but they do not each "
                f"carry their own {reference} ({', '.join(v or '(empty)' for v in values)}). "
                "Without one, a write whose answer was lost could not be checked without "
                f"doubling it: map a distinct {reference} into each part (e.g. from the split's "
                "header field), then retry."
            )
    system_reference = ctx.target_reference
    if system_reference and system_reference != reference:
        # The system's own reference is how its connector finds a record to update.
        values = [v for p in produced if (v := field_text(p, system_reference))]
        if len(set(values)) < len(values):
            return (
                f"The mapping splits this record into {count} records, but some share one "
                f"{system_reference} ({', '.join(values)}), so {target} would take them for "
                "one record (one overwriting the other, or the second refused as a duplicate): "
                f"map a distinct {system_reference} into each part, then retry."
            )
    return ""


def known_targets(ctx: FlowContext, rows: Sequence[SyncRecord]) -> list[SyncRecord]:
    """A record delivered before is an update of the same target record, never a second one.

    Returns the rows the cross-reference does not know (for matching, clarity.sync.matching).
    """
    if not rows or not ctx.target_key:
        return list(rows)
    known = known_target_ids(ctx.flow, {r.source_id for r in rows})
    unknown = []
    for row in rows:
        target_id = known.get((row.source_id, max(row.part, 1)))
        if target_id and not row.transformed_payload.get(ctx.target_key):
            row.transformed_payload[ctx.target_key] = target_id
        if not target_id:
            unknown.append(row)
    return unknown


def known_target_ids(flow: Flow, source_ids: Collection[str]) -> dict[tuple[str, int], str]:
    """The cross-reference: ``{(source id, part): target id}`` of the records the flow
    delivered, or a person linked to what was there; read-only, one query.

    Keyed by part too: part 2 of an order's next version updates part 2's invoice.
    Part 1 and an unsplit record (part 0) are the same target record (key part 1).
    """
    known: dict[tuple[str, int], str] = {}
    for source_id, part, target_id in (
        SyncRecord.objects.filter(
            flow=flow,
            source_id__in=set(source_ids),
            status__in=TARGET_KNOWN,  # delivered, or linked by a person to what was there
        )
        .exclude(target_id="")
        .order_by("-id")
        .values_list("source_id", "part", "target_id")
    ):
        known.setdefault((source_id, max(part, 1)), target_id)
    return known


def load(ctx: FlowContext, batch: Sequence[SyncRecord], decided: list[SyncRecord]) -> None:
    """Write one batch and mark each row's outcome; rows marked are added to ``decided``.

    A refusal of the whole batch that one record can cause (a 413 for its size,
    a 400 the target does not pin on an item) splits the batch in halves, each
    sent on its own, down to the records at fault: the good ones are delivered
    and only those fail, each with its own message.
    """
    refusal = _send(ctx, batch, decided)
    if refusal is not None:
        _refused(ctx, batch, refusal, decided)


def _send(
    ctx: FlowContext, batch: Sequence[SyncRecord], decided: list[SyncRecord]
) -> ConnectorError | None:
    """One write call; marks every row, unless the whole call was refused: that is returned."""
    flow = ctx.flow
    try:
        results = ctx.target.write_batch(
            flow.target_entity, [row.transformed_payload for row in batch]
        )
    except RetryLaterError:
        raise
    except ConnectorError as exc:
        if exc.kind == ErrorKind.AUTH:
            raise FlowPaused(flow.pk, login_refused_reason(exc)) from exc
        if not exc.outcome_unknown:
            return exc
        for row in batch:
            row.status = RecordStatus.UNKNOWN
            row.message = "Sent, but the answer never came back; checking the target."
        outcomes.save(batch)
        # Decided before the lookup: should it be held back (RetryLaterError), the rows it
        # did not settle are saved unknown, never handed back as unsent.
        decided += batch
        settle_unknown(ctx, _claim(ctx, batch, statuses=[RecordStatus.UNKNOWN]))
        return None
    for row, result in zip(batch, results, strict=True):
        if result.ok:
            outcomes.mark_succeeded(row, target_id=result.target_id or "", raw=result.raw)
        else:
            outcomes.mark_failed(
                row,
                kind=result.kind or ErrorKind.DATA,
                code=result.code or "rejected",
                message=result.message or "The target rejected this record.",
                raw=result.raw,
            )
            hint = dependency_hint(row)
            if hint is not None:
                row.message = f"{row.message} {hint.sentence}"
    decided += batch
    return None


def _refused(
    ctx: FlowContext, batch: Sequence[SyncRecord], exc: ConnectorError, decided: list[SyncRecord]
) -> None:
    """A batch refused as a whole: halve it while the fault may be one record's.

    Why stop early: when both halves are refused again with the same
    configuration error, the fault is the flow's (a field the target lacks for
    every record), not a record's; all fail at once instead of one call each.
    """
    if len(batch) == 1 or not _one_record_may_cause(exc):
        _mark_refused(ctx, batch, exc)
        decided += batch
        return
    half = len(batch) // 2
    halves = (batch[:half], batch[half:])
    refusals = [_send(ctx, part, decided) for part in halves]
    flow_wide = exc.kind == ErrorKind.CONFIG and not _too_large(exc)
    if flow_wide and all(r is not None and r.code == exc.code for r in refusals):
        for part, refusal in zip(halves, refusals, strict=True):
            assert refusal is not None
            _mark_refused(ctx, part, refusal)
            decided += part
        return
    for part, refusal in zip(halves, refusals, strict=True):
        if refusal is not None:
            _refused(ctx, part, refusal, decided)


def _mark_refused(ctx: FlowContext, rows: Sequence[SyncRecord], exc: ConnectorError) -> None:
    for row in rows:
        if _too_large(exc):
            size = ctx.target.request_bytes(ctx.flow.target_entity, row.transformed_payload)
            _mark_too_large(ctx, row, size=size, limit=None, refused=True)
            row.target_response = exc.raw
        else:
            outcomes.mark_failed(row, kind=exc.kind, code=exc.code, message=str(exc), raw=exc.raw)


def _too_large(exc: ConnectorError) -> bool:
    return exc.status == 413 or exc.code == "too_large"


def _one_record_may_cause(exc: ConnectorError) -> bool:
    """A refusal of the whole call that may lie with one record rather than with the flow
    (a 404 means a wrong entity or address: no half of the batch would fare better)."""
    return (
        _too_large(exc)
        or exc.status in (400, 409, 422)
        or (exc.kind == ErrorKind.DATA and exc.status != 404)
    )


def settle_unknown(ctx: FlowContext, rows: Sequence[SyncRecord]) -> None:
    """Look a write with no answer up in the target — never send it again blind.

    The rows are asked for a batch at a time (``find_by_references``: a lost
    batch of 50 costs one lookup where the target can filter by a list, not
    50), and each batch's outcomes are saved as soon as its lookup answers.
    Why: a lookup that fails (a 5xx, a timeout, a 429 burst) throws away only
    its own batch, not the answers already had, so under steady faults every
    pass settles more rows instead of starting from zero each time.

    The rows a failed lookup leaves unknown are saved unclaimed, so the next
    pass (``deliver_due``, which the sweeper starts for them) looks them up
    again. A lookup held back on our side (the rate limiter, an open circuit
    breaker: ``RetryLaterError``) is raised after that, so the run waits as
    long as it was told to instead of carrying on against the limit.
    """
    if not rows:
        return
    field_name = ctx.flow.target_reference_field
    references = {
        row.pk: field_text(row.transformed_payload or {}, field_name) if field_name else ""
        for row in rows
    }
    unchecked = [row for row in rows if not references[row.pk]]
    for row in unchecked:
        outcomes.mark_failed(
            row,
            kind=ErrorKind.CONFIG,
            code="outcome_unknown",
            message="Sent, but the answer never came back, and this flow names no target "
            "reference to check it by. Check the target; then resolve or retry by hand.",
        )
    outcomes.save(unchecked)
    asked = [row for row in rows if references[row.pk]]
    step = max(1, ctx.batch_size)
    for start in range(0, len(asked), step):
        chunk = asked[start : start + step]
        try:
            known = ctx.target.find_by_references(
                ctx.flow.target_entity, [references[row.pk] for row in chunk]
            )
        except RetryLaterError as exc:
            _still_unknown(asked[start:], exc)
            raise
        except ConnectorError as exc:
            _still_unknown(asked[start:], exc)
            return
        for row in chunk:
            found = known.get(references[row.pk])
            if found is not None:
                outcomes.mark_succeeded(row, target_id=found.target_id, raw=found.record)
            else:
                # It never arrived: sending it again is safe, after the same backoff as any
                # retry.
                outcomes.mark_failed(
                    row,
                    kind=ErrorKind.TRANSIENT,
                    code="not_delivered",
                    message="Sent, but it never arrived in the target, so sending it again "
                    "is safe.",
                )
        outcomes.save(chunk)


def _still_unknown(rows: Sequence[SyncRecord], failure: ConnectorError) -> None:
    """Rows whose lookup failed: saved unknown and unclaimed, for the next pass to look up."""
    for row in rows:
        row.status = RecordStatus.UNKNOWN
        row.message = f"Sent, but the answer never came back; checking failed too: {failure}"
    outcomes.save(rows)
