"""Validate run: a dry run of a whole flow, before go-live.

It reads every record of the flow's source (``read_all``: a consultant validating before
launch wants to know what the first real run would do with everything there is, not with
what changed since a cursor that has not moved yet), maps each one with the current
mapping, and asks the target, in batches and read-only, for the record each would become.
Each record gets one verdict: would create, would update (with the field-by-field
difference from the twin), unchanged, would skip (the rule's reason), or would fail (the
code and message a real run gives).

The verdicts come from the real run's own steps, not a copy of them (clarity.sync.pipeline):
``ledger_row`` (the record's id and version, the unstorable check), ``produce`` (skip and
conditional rules, lookups, a split), ``split_refused``, ``known_targets`` (the
cross-reference), ``within_request_size``; then the flow's matching rules
(clarity.sync.matching ``twins_find``) and the target's own reference (what its upsert
goes by) find the twin, and ``connectors.compare`` says whether writing would change it.

It writes nothing to the target (only ``read_keys``, ``find_by_references`` and the
matching rules' lookups, all GETs) and nothing to the flow's ledger, cursor or
cross-reference: the ledger rows it builds belong to an unsaved run, so Django would
refuse to store one by mistake. Its only writes are its own report (``ValidateRun``,
``ValidateRecord``).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.utils import timezone

from clarity.models import (
    Decision,
    ErrorKind,
    MatchDecision,
    MatchOutcome,
    RecordStatus,
    SincePrevious,
    SyncRecord,
    SyncRun,
    Trigger,
    ValidateOutcome,
    ValidateRecord,
    ValidateRun,
    ValidateStatus,
)
from clarity.models.ledger import SETTLED
from clarity.sync import bulk, storable
from clarity.sync.keys import field_text
from clarity.sync.matching import flow_rules, twins_find
from clarity.sync.pipeline import (
    FlowContext,
    known_targets,
    ledger_row,
    produce,
    split_refused,
    within_request_size,
)
from clarity.sync.readahead import ReadAhead
from connectors.base import ChangePage, FoundRecord
from connectors.compare import already_held
from connectors.errors import ConnectorError, RetryLaterError
from mappings.engine import CompileError

# Outcomes and the run's count of each.
COUNT_FIELDS = {
    ValidateOutcome.WOULD_CREATE: "would_create_count",
    ValidateOutcome.WOULD_UPDATE: "would_update_count",
    ValidateOutcome.UNCHANGED: "unchanged_count",
    ValidateOutcome.WOULD_SKIP: "would_skip_count",
    ValidateOutcome.WOULD_FAIL: "would_fail_count",
}
# Values one lookup call carries, to weigh lookups against a full read [A]: Xero's 50
# (connectors/xero/connector.py LOOKUP_CHUNK); systems that take more cost less.
LOOKUP_VALUES = 50


def validate_run_execute(*, run_id: int) -> ValidateRun:
    """Run (or start over) one validate run; a finished one is left as it is.

    A run a dead worker left ``running`` starts over from nothing: it wrote nothing but
    its own report, which is cleared first.
    """
    run = ValidateRun.objects.select_related(
        "flow__pair", "flow__mapping", "flow__source_connection", "flow__target_connection"
    ).get(pk=run_id)
    if not run.active:
        return run
    flow = run.flow
    ValidateRecord.objects.filter(run=run).delete()
    previous = (
        ValidateRun.objects.filter(flow=flow, status=ValidateStatus.SUCCEEDED, pk__lt=run.pk)
        .order_by("-pk")
        .first()
    )
    run.previous = previous
    run.status = ValidateStatus.RUNNING
    run.started_at = timezone.now()
    run.message = ""
    _save(run, Counter(), "previous", "status", "started_at", "message")
    ctx: FlowContext | None = None
    try:
        # An unsaved run: any ledger row of it that reached the database would be refused.
        ctx = FlowContext.build(SyncRun(flow=flow, trigger=Trigger.MANUAL), owner="validate")
        run.mapping_version = ctx.mapping_version
        report = _Report(run, _previous_outcomes(previous))
        reader = TwinReader(ctx)
        # The next page is read while this one is judged, as a real run reads (readahead).
        with ReadAhead(ctx.source.read_all(flow.source_entity)) as pages:
            for page in pages:
                report.add(page_verdicts(ctx, page.records, reader))
        report.finish()
    except ConnectorError as exc:
        _fail(run, _run_failure(exc))
    except CompileError as exc:
        _fail(run, f"The flow's mapping does not compile; fix it first: {exc}")
    except Exception as exc:
        _fail(run, f"Unexpected error ({type(exc).__name__}); the operator's log has details.")
        raise
    finally:
        if ctx is not None:
            ctx.source.close()
            ctx.target.close()
    run.refresh_from_db()
    return run


def _run_failure(exc: ConnectorError) -> str:
    """Why the run itself stopped, and what to do about it."""
    if exc.kind == ErrorKind.AUTH:
        return f"A login was refused: {exc} Reconnect the connection, then validate again."
    if isinstance(exc, RetryLaterError):
        return f"{exc} Validate again in {exc.retry_after:.0f} seconds or more."
    return f"{exc} Nothing was written anywhere; validate again once it is fixed."


def page_verdicts(
    ctx: FlowContext, records: Sequence[dict[str, Any]], reader: TwinReader
) -> list[ValidateRecord]:
    """What a real run would do with each record of one page read, as unsaved report rows."""
    rows = [ledger_row(ctx, record) for record in records]
    delivered = _delivered(ctx, rows) if reader.ledger else set()
    verdicts: list[ValidateRecord] = []
    ready: list[SyncRecord] = []
    for row in rows:
        if row.status == RecordStatus.FAILED:  # the ledger could not hold it as read
            verdicts.append(_from_row(row))
        elif row.idempotency_key in delivered:
            verdicts.append(
                _verdict(
                    row,
                    ValidateOutcome.WOULD_SKIP,
                    message="Already synced at this version: a real run does not send it again.",
                )
            )
        elif (produced := produce(ctx, row)) is None:  # skipped or failed by the mapping
            verdicts.append(_from_row(row))
        elif len(produced) == 1:
            row.transformed_payload = produced[0]
            ready.append(row)
        elif split_refused(ctx, row, produced):
            verdicts.append(_from_row(row))
        else:
            ready += [_part(row, number, payload) for number, payload in enumerate(produced, 1)]
    if reader.ledger:  # before go-live the ledger is empty: no cross-reference to read
        known_targets(ctx, ready)
    ready, too_large = within_request_size(ctx, ready)
    verdicts += [_from_row(row) for row in too_large]
    verdicts += _compared(ctx, ready, reader)
    return verdicts


def _delivered(ctx: FlowContext, rows: Sequence[SyncRecord]) -> set[str]:
    """The records the ledger holds as done at this very version: a real run skips them."""
    keys = [r.idempotency_key for r in rows if r.status == RecordStatus.PENDING]
    if not keys:
        return set()
    return set(
        SyncRecord.objects.filter(idempotency_key__in=keys, status__in=SETTLED).values_list(
            "idempotency_key", flat=True
        )
    )


def _part(row: SyncRecord, number: int, payload: dict[str, Any]) -> SyncRecord:
    """One record a split produced, as the real run's part row would carry it."""
    return SyncRecord(
        run=row.run,
        flow=row.flow,
        pair_id=row.pair_id,
        part=number,
        source_id=row.source_id,
        source_version=row.source_version,
        business_key=row.business_key,
        transformed_payload=payload,
    )


def _compared(
    ctx: FlowContext, rows: Sequence[SyncRecord], reader: TwinReader
) -> list[ValidateRecord]:
    """Each row against its twin in the target: create, update (with the differences),
    unchanged, or — when the matching rules find several candidates or only a partial
    match — the decision a real run would wait for."""
    if not rows:
        return []
    twins, undecided = twins_of(ctx, rows, reader)
    verdicts = []
    for index, row in enumerate(rows):
        payload = row.transformed_payload or {}
        twin = twins.get(index)
        known_id = field_text(payload, ctx.target_key) if ctx.target_key else ""
        if index in undecided:
            code, message = undecided[index]
            verdicts.append(_verdict(row, ValidateOutcome.WOULD_FAIL, code=code, message=message))
        elif twin is None and known_id:
            target = ctx.flow.target_connection.name
            verdicts.append(
                _verdict(
                    row,
                    ValidateOutcome.WOULD_FAIL,
                    code="twin_missing",
                    kind=ErrorKind.DATA,
                    message=f"The ledger links this record to {target} record {known_id}, "
                    f"which {target} no longer holds (deleted or archived there?): a real run "
                    "would send it as an update of that record, and it would be refused.",
                )
            )
        elif twin is None:
            verdicts.append(_verdict(row, ValidateOutcome.WOULD_CREATE))
        else:
            ignore = {ctx.target_key} if ctx.target_key else set()
            differences = field_differences(payload, twin.record, ignore=ignore)
            outcome = ValidateOutcome.WOULD_UPDATE if differences else ValidateOutcome.UNCHANGED
            verdicts.append(
                _verdict(row, outcome, target_id=twin.target_id, differences=differences)
            )
    return verdicts


class TwinReader:
    """Reads twins from the target for one validate run: batched lookups, until they would
    cost more calls than reading the whole target entity once, then from that read.

    Why: a validate run asks about every source record. Lookups cost a call per few dozen
    values (Xero: 50 ContactNumbers a GET [O], connectors/xero/connector.py); 50,000
    customers are 1,000 calls, 17 minutes at Xero's 60 a minute [P] (systems/xero.md),
    while 20,000 contacts read a page of 1,000 at a time are 20. One first page of the full
    read (a single call) says how many records the target holds (Xero's
    ``pagination.itemCount``); a target that does not say is only ever asked by lookups.
    The cross-reference is read only when the flow's ledger holds anything: before go-live
    it is empty, and 50,000 keys would be asked of it for nothing.
    """

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.calls = 0  # lookups made so far (estimated: LOOKUP_VALUES a call)
        self.full_read_calls: float | None = None  # what reading everything costs
        self.pages: Iterator[ChangePage] | None = None
        self.first: ChangePage | None = None
        self.by_key: dict[str, FoundRecord] | None = None
        self.by_reference: dict[str, FoundRecord] = {}
        # Whether the flow's ledger holds anything (a cross-reference, records delivered).
        self.ledger = SyncRecord.objects.filter(flow=ctx.flow).exists()
        self.rules = flow_rules(ctx.flow)  # the flow's matching rules, read once a run

    def by_keys(self, keys: Sequence[str]) -> dict[str, FoundRecord]:
        """``{target id: twin}`` of the target ids the cross-reference names."""
        entity, key_field = self.ctx.flow.target_entity, self.ctx.target_key
        if self._indexed(len(keys)):
            assert self.by_key is not None
            return {k: self.by_key[k] for k in keys if k in self.by_key}
        held: dict[str, FoundRecord] = {}
        for page in self.ctx.target.read_keys(entity, list(keys)):
            for record in page.records:
                key = field_text(record, key_field)
                held[key] = FoundRecord(key, record)
        return held

    def by_references(self, references: Sequence[str]) -> dict[str, FoundRecord]:
        """``{reference: twin}``, by the target reference the writes carry."""
        if self._indexed(len(references)):
            return {r: self.by_reference[r] for r in references if r in self.by_reference}
        return self.ctx.target.find_by_references(self.ctx.flow.target_entity, list(references))

    def _indexed(self, values: int) -> bool:
        """Whether to answer from the full read (reading it now if lookups of ``values``
        more would make the lookups dearer than it)."""
        if self.by_key is not None:
            return True
        if not values:
            return False
        if self.full_read_calls is None:
            self.pages = iter(self.ctx.target.read_all(self.ctx.flow.target_entity))
            self.first = next(self.pages, ChangePage([], None, 0))
            total, size = self.first.total, max(1, len(self.first.records))
            self.full_read_calls = math.ceil(total / size) if total is not None else math.inf
        self.calls += math.ceil(values / LOOKUP_VALUES)
        if self.calls <= self.full_read_calls:
            return False
        self._read_everything()
        return True

    def _read_everything(self) -> None:
        key_field, reference = self.ctx.target_key, self.ctx.target_reference
        self.by_key = {}
        pages = [self.first] if self.first is not None else []
        for page in itertools.chain(pages, self.pages or ()):
            for record in page.records:
                found = FoundRecord(field_text(record, key_field), record)
                self.by_key[found.target_id] = found
                if reference and (value := field_text(record, reference)):
                    self.by_reference.setdefault(value, found)
        self.pages = self.first = None


def twins_of(
    ctx: FlowContext, rows: Sequence[SyncRecord], reader: TwinReader
) -> tuple[dict[int, FoundRecord], dict[int, tuple[str, str]]]:
    """The twin of each row (by index) and the rows whose match a person must decide
    (``{index: (code, message)}``), in batched, read-only reads.

    First the cross-reference (the target id ``known_targets`` put into the payload),
    read back by the target's key; then the flow's matching rules, as a real run matches
    before it creates; then the flow's target reference, which a real run's write carries
    and the target's upsert goes by (Xero: ``ContactNumber``).
    """
    twins: dict[int, FoundRecord] = {}
    undecided: dict[int, tuple[str, str]] = {}
    by_key = {
        index: key
        for index, row in enumerate(rows)
        if ctx.target_key and (key := field_text(row.transformed_payload or {}, ctx.target_key))
    }
    if by_key:
        held = reader.by_keys(list(dict.fromkeys(by_key.values())))
        twins.update({i: held[key] for i, key in by_key.items() if key in held})
    open_ = [i for i in range(len(rows)) if i not in by_key]
    chosen_new = _create_new_chosen(ctx, [rows[i] for i in open_]) if reader.rules else set()
    matched = [i for i in open_ if rows[i].source_id not in chosen_new] if reader.rules else []
    matches = twins_find(
        flow=ctx.flow,
        target=ctx.target,
        payloads=[rows[i].transformed_payload or {} for i in matched],
        rules=reader.rules,
    )
    for index, match in zip(matched, matches, strict=True):
        if match.target_id is not None:
            candidate = match.candidates[0]
            twins[index] = FoundRecord(candidate.target_id, candidate.record)
        elif match.outcome in (MatchOutcome.AMBIGUOUS, MatchOutcome.PARTIAL):
            undecided[index] = (f"match_{match.outcome}", match.message)
    reference = ctx.target_reference
    by_reference = {
        index: value
        for index in open_
        if index not in twins
        and index not in undecided
        and reference
        and (value := field_text(rows[index].transformed_payload or {}, reference))
    }
    if by_reference:
        found = reader.by_references(list(dict.fromkeys(by_reference.values())))
        twins.update({i: found[value] for i, value in by_reference.items() if value in found})
    return twins, undecided


def _create_new_chosen(ctx: FlowContext, rows: Sequence[SyncRecord]) -> set[str]:
    """Source records a person decided to create anew: never matched again (as a real run)."""
    if not rows:
        return set()
    return set(
        MatchDecision.objects.filter(
            flow=ctx.flow, source_id__in={r.source_id for r in rows}, decision=Decision.CREATE
        ).values_list("source_id", flat=True)
    )


def field_differences(
    sent: Mapping[str, Any], held: Mapping[str, Any], *, ignore: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """``{field: {"held": the twin's value, "sent": the value a run would send}}`` for each
    field of ``sent`` writing would change, by the one rule set (``connectors.compare``)."""
    skipped = set(ignore)
    return {
        name: {"held": held.get(name), "sent": value}
        for name, value in sent.items()
        if name not in skipped and not _equal(value, held.get(name))
    }


def _equal(sent: Any, held: Any) -> bool:
    """``already_held``, with the common case first: the very same value (and type: True is
    not 1) is held, whatever the rules say of it."""
    return (type(sent) is type(held) and sent == held) or already_held(sent, held)


def _from_row(row: SyncRecord) -> ValidateRecord:
    """The verdict of a row the real run's own steps marked skipped or failed."""
    if row.status == RecordStatus.SKIPPED:
        return _verdict(row, ValidateOutcome.WOULD_SKIP, message=row.message)
    return _verdict(
        row,
        ValidateOutcome.WOULD_FAIL,
        kind=row.error_kind,
        code=row.error_code,
        message=row.message,
    )


def _verdict(
    row: SyncRecord,
    outcome: str,
    *,
    kind: str = "",
    code: str = "",
    message: str = "",
    target_id: str = "",
    differences: dict[str, Any] | None = None,
) -> ValidateRecord:
    payload = row.transformed_payload if outcome != ValidateOutcome.WOULD_SKIP else None
    return ValidateRecord(
        source_id=row.source_id,
        part=row.part,
        business_key=row.business_key,
        outcome=outcome,
        target_id=storable.escaped_text(target_id)[:200],
        differences=_storable(differences or {}),
        error_kind=kind,
        error_code=storable.escaped_text(code)[:100],
        message=storable.escaped_text(message),
        transformed_payload=_storable(payload),
    )


def _storable(value: Any) -> Any:
    """A payload or a twin's values as PostgreSQL can hold them (a NUL, a lone surrogate)."""
    return storable.escaped(value) if value and storable.problems(value) else value


def _previous_outcomes(previous: ValidateRun | None) -> dict[tuple[str, int], str] | None:
    if previous is None:
        return None
    rows = ValidateRecord.objects.filter(run=previous).values_list("source_id", "part", "outcome")
    return {(source_id, part): outcome for source_id, part, outcome in rows.iterator(5000)}


class _Report:
    """Stores a run's verdicts page by page, compared with the previous run, and counts."""

    def __init__(self, run: ValidateRun, before: dict[tuple[str, int], str] | None) -> None:
        self.run = run
        self.before = before
        self.seen: set[tuple[str, int]] = set()
        self.counts: Counter[str] = Counter()

    def add(self, verdicts: list[ValidateRecord]) -> None:
        failing = ValidateOutcome.WOULD_FAIL
        for verdict in verdicts:
            verdict.run = self.run
            key = (verdict.source_id, verdict.part)
            self.seen.add(key)
            self.counts[verdict.outcome] += 1
            if self.before is None:
                continue
            was = self.before.get(key)
            if was is None:
                verdict.since_previous = SincePrevious.NEW
            elif was == failing and verdict.outcome != failing:
                verdict.since_previous = SincePrevious.FIXED
            elif was != verdict.outcome:
                verdict.since_previous = SincePrevious.CHANGED
            else:
                verdict.since_previous = SincePrevious.SAME
            if verdict.since_previous == SincePrevious.FIXED:
                self.counts["fixed"] += 1
            if verdict.outcome == failing and was != failing:
                self.counts["new"] += 1
        bulk.rows_insert(ValidateRecord, verdicts)
        _save(self.run, self.counts)

    def finish(self) -> None:
        if self.before is not None:
            self.counts["gone"] = sum(
                1
                for key, outcome in self.before.items()
                if outcome == ValidateOutcome.WOULD_FAIL and key not in self.seen
            )
        self.run.status = ValidateStatus.SUCCEEDED
        self.run.finished_at = timezone.now()
        _save(self.run, self.counts, "status", "finished_at", "mapping_version")


def _save(run: ValidateRun, counts: Counter[str], *fields: str) -> None:
    """Progress: the counts so far (and ``fields`` of ``run``), one UPDATE."""
    values: dict[str, Any] = {name: getattr(run, name) for name in fields}
    values["total_count"] = sum(counts[o] for o in COUNT_FIELDS)
    values.update({name: counts[outcome] for outcome, name in COUNT_FIELDS.items()})
    values.update(new_count=counts["new"], fixed_count=counts["fixed"], gone_count=counts["gone"])
    ValidateRun.objects.filter(pk=run.pk).update(**values)


def _fail(run: ValidateRun, message: str) -> None:
    ValidateRun.objects.filter(pk=run.pk).update(
        status=ValidateStatus.FAILED,
        finished_at=timezone.now(),
        message=storable.escaped_text(message),
    )
