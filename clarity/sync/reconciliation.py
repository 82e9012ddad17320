"""Reconciliation: compare a pair's two systems flow by flow, read-only.

For each flow whose ``ReconciliationSetting`` is on, the engine reads every record of
the target entity and of the source entity with the connectors' bulk reads
(``read_all``), through the lower-priority share of the rate limiter the flows use
(``connector_for(background=True)``), so it never crowds the flows out. Then:

* **twins** — a source record's twin is the target record the ledger says it was
  delivered as or linked to (``TARGET_KNOWN`` rows' ``target_id``), else the target
  record carrying the same reference (the flow's ``target_reference_field``, else the
  system's), as the sync itself would find it;
* **missing** — a source record the mapping sends (not skipped by a rule) with no twin
  is *missing in the target*; a target record nobody's twin is *missing in the source*;
* **drift** — each twin is compared with what the flow's current mapping makes of its
  source record (``mappings.engine``, exactly as a run transforms), field by field with
  ``connectors.compare`` (the rules the sync uses to skip what is already held);
* **periods** — counts, and totals of the amount fields, per day or month of the date
  fields, source against target.

Nothing is written to either system. Findings are rows of ``ReconciliationFinding``.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any

from django.db import transaction
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from clarity.models import (
    FindingKind,
    Flow,
    Period,
    ReconciliationFinding,
    ReconciliationRun,
    ReconciliationSchedule,
    ReconciliationSetting,
    ReconciliationStatus,
    SyncRecord,
)
from clarity.models.ledger import TARGET_KNOWN
from clarity.sync.keys import field_text
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from clarity.sync.schedules import next_fire
from connectors.base import Connector, Record
from connectors.compare import already_held, as_moment
from connectors.configs import connector_for
from connectors.errors import ConnectorError
from mappings.engine import Outcome, Plan, to_json_safe
from mappings.engine.paths import Getter, getter, parse_path
from mappings.services import mapping_compile

logger = logging.getLogger(__name__)

# Findings are written this many at a time, so a run with many stays in bounded memory.
FINDINGS_BATCH = 1000
NO_DATE = "(no date)"


# -- amounts and periods ------------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """``A`` or ``A*B``: a field, or the product of two, summed over the lines of ``[]``."""

    factors: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Amount:
        return cls(tuple(part.strip() for part in text.split("*")))

    def __str__(self) -> str:
        return "*".join(self.factors)

    @cached_property
    def _getters(self) -> tuple[Getter | None, list[tuple[Getter, bool]]]:
        """(the lines' getter, or None; each factor's getter and whether it is in a line),
        compiled once: a run reads the amount of every record."""
        paths = [parse_path(text, "amount") for text in self.factors]
        lines = next((p.line_array for p in paths if p.line_array is not None), None)
        factors = [
            (getter(p.in_line), True) if p.line_array is not None else (getter(p), False)
            for p in paths
        ]
        return (getter(lines) if lines is not None else None), factors

    def of(self, record: Record) -> Decimal:
        """The amount of one record; a blank or non-numeric value counts as 0."""
        lines_of, factors = self._getters
        if lines_of is None:
            return _product(get(record) for get, _ in factors)
        lines = lines_of(record)
        total = Decimal(0)
        for line in lines if isinstance(lines, list) else []:
            total += _product(get(line) if in_line else get(record) for get, in_line in factors)
        return total


def _product(values: Iterable[Any]) -> Decimal:
    result = Decimal(1)
    for value in values:
        result *= _number(value)
    return result


def _number(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        return Decimal(0)
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return Decimal(0)
    return number if number.is_finite() else Decimal(0)


def period_of(value: Any, period: str) -> str:
    """``2026-03`` (month) or ``2026-03-14`` (day) of a date the systems write (a time with
    an offset: the day where it was written); NO_DATE when it is none."""
    moment = as_moment(value)
    if moment is None:
        return NO_DATE
    return moment.strftime("%Y-%m" if period == Period.MONTH else "%Y-%m-%d")


# -- one flow -----------------------------------------------------------------------------


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    totals: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, period: str, amount: Decimal | None) -> None:
        self.counts[period] += 1
        if amount is not None:
            self.totals[period] += amount


@dataclass
class FlowResult:
    source_records: int = 0
    target_records: int = 0
    twins: int = 0
    findings: int = 0


class FlowReconciler:
    """Compares one flow's two sides and writes its findings to ``run`` as it goes."""

    def __init__(
        self,
        run: ReconciliationRun,
        flow: Flow,
        setting: ReconciliationSetting,
        source: Connector,
        target: Connector,
    ) -> None:
        self.run, self.flow, self.setting = run, flow, setting
        self.source, self.target = source, target
        source_schema = source.describe(flow.source_entity)
        target_schema = target.describe(flow.target_entity)
        self.source_key = source_schema.key_field
        self.target_key = target_schema.key_field
        self.reference = flow.target_reference_field or target_schema.reference_field or ""
        self.plan: Plan | None = mapping_compile(mapping=flow.mapping) if flow.mapping else None
        self.ignore = setting.ignored | {self.target_key}
        self.amounts = (
            (Amount.parse(setting.source_amount_field), Amount.parse(setting.target_amount_field))
            if setting.source_amount_field.strip() and setting.target_amount_field.strip()
            else None
        )
        self.dated = bool(setting.source_date_field.strip() and setting.target_date_field.strip())
        self.result = FlowResult()
        self._pending: list[ReconciliationFinding] = []

    # -- findings

    def _find(self, kind: FindingKind, **values: Any) -> None:
        self._pending.append(
            ReconciliationFinding(run=self.run, flow=self.flow, kind=kind, **values)
        )
        self.result.findings += 1
        if len(self._pending) >= FINDINGS_BATCH:
            self._flush()

    def _flush(self) -> None:
        ReconciliationFinding.objects.bulk_create(self._pending)
        self._pending = []

    # -- the ledger's cross-reference

    def _ledger(self) -> tuple[dict[tuple[str, int], tuple[str, int]], dict[str, tuple[str, int]]]:
        """(source id, part) → (target id, ledger row) and target id → (source id, ledger row)
        for the rows whose target id names the target record they are (the newest wins)."""
        twins: dict[tuple[str, int], tuple[str, int]] = {}
        by_target: dict[str, tuple[str, int]] = {}
        rows = (
            SyncRecord.objects.filter(flow=self.flow, status__in=TARGET_KNOWN)
            .exclude(target_id="")
            .order_by("-id")
            .values_list("pk", "source_id", "part", "target_id")
        )
        for pk, source_id, part, target_id in rows.iterator(chunk_size=5000):
            twins.setdefault((source_id, max(part, 1)), (target_id, pk))
            by_target.setdefault(target_id, (source_id, pk))
        return twins, by_target

    def _ledger_rows(self, source_ids: Sequence[str]) -> dict[str, int]:
        """The newest ledger row of each source id, whatever its outcome (for the link)."""
        rows: dict[str, int] = {}
        for pk, source_id in (
            SyncRecord.objects.filter(flow=self.flow, source_id__in=source_ids, parent=None)
            .order_by("-id")
            .values_list("pk", "source_id")
        ):
            rows.setdefault(source_id, pk)
        return rows

    # -- reading

    def _pages(self, connector: Connector, entity: str) -> Iterator[list[Record]]:
        for page in connector.read_all(entity):
            yield page.records

    def reconcile(self) -> FlowResult:
        flow, setting = self.flow, self.setting
        twins, by_target = self._ledger()
        held: dict[str, Record] = {}
        by_reference: dict[str, str] = {}
        target_tally, source_tally = Tally(), Tally()
        scope = setting.scope
        for records in self._pages(self.target, flow.target_entity):
            for record in records:
                if any(field_text(record, name) != value for name, value in scope):
                    continue  # another flow's (a bill among Xero's Invoices)
                target_id = field_text(record, self.target_key)
                held[target_id] = record
                if self.reference and (ref := field_text(record, self.reference)):
                    by_reference.setdefault(ref, target_id)
                if self.dated:
                    target_tally.add(
                        period_of(_read(record, setting.target_date_field), setting.period),
                        self.amounts[1].of(record) if self.amounts else None,
                    )
        self.result.target_records = len(held)
        matched: set[str] = set()
        for records in self._pages(self.source, flow.source_entity):
            self._source_page(records, twins, held, by_reference, matched, source_tally)
        for target_id, record in held.items():
            if target_id in matched:
                continue
            source_id, row = by_target.get(target_id, ("", None))
            self._find(
                FindingKind.MISSING_IN_SOURCE,
                target_id=target_id,
                source_id=source_id,
                record_id=row,
                business_key=field_text(record, self.reference) if self.reference else "",
                message=(
                    f"{flow.target_connection.name} {flow.target_entity} {target_id} has no "
                    f"twin in {flow.source_connection.name} {flow.source_entity}"
                    + (f" (it was sent as {source_id}, which is no longer there)." if source_id
                       else ": it was not sent by this flow.")
                ),
            )  # fmt: skip
        if self.dated:
            self._periods(source_tally, target_tally)
        self._flush()
        return self.result

    def _source_page(
        self,
        records: list[Record],
        twins: dict[tuple[str, int], tuple[str, int]],
        held: dict[str, Record],
        by_reference: dict[str, str],
        matched: set[str],
        tally: Tally,
    ) -> None:
        flow, setting = self.flow, self.setting
        missing: list[tuple[str, Record, str]] = []
        for record in records:
            source_id = field_text(record, self.source_key)
            self.result.source_records += 1
            produced, problem = self._produce(record)
            if produced is None:
                continue  # a rule keeps it out of the target: no twin expected
            if self.dated:
                tally.add(
                    period_of(_read(record, setting.source_date_field), setting.period),
                    self.amounts[0].of(record) if self.amounts else None,
                )
            if not produced:
                # The mapping cannot make it now: its twin, if any, is not compared.
                known = twins.get((source_id, 1))
                if known is not None and known[0] in held:
                    matched.add(known[0])
                else:
                    missing.append((source_id, record, problem))
                continue
            for part, wanted in enumerate(produced, start=1):
                target_id = self._twin(source_id, part, wanted, twins, held, by_reference)
                if target_id is None:
                    missing.append((source_id, record, ""))
                    continue
                matched.add(target_id)
                self.result.twins += 1
                self._compare(source_id, record, target_id, wanted, held[target_id], twins)
        if missing:
            rows = self._ledger_rows([source_id for source_id, _, _ in missing])
            for source_id, record, problem in missing:
                known = twins.get((source_id, 1))
                why = (
                    f" It was sent as {known[0]}, which {flow.target_connection.name} no longer "
                    "has." if known else
                    f" The mapping cannot make it: {problem}" if problem else
                    " The ledger has not delivered it (see its ledger record)."
                    if source_id in rows else " This flow has not read it yet."
                )  # fmt: skip
                self._find(
                    FindingKind.MISSING_IN_TARGET,
                    source_id=source_id,
                    target_id=known[0] if known else "",
                    record_id=rows.get(source_id),
                    business_key=field_text(record, flow.business_key_field),
                    message=f"{flow.source_connection.name} {flow.source_entity} {source_id} "
                    f"has no twin in {flow.target_connection.name} {flow.target_entity}.{why}",
                )

    def _produce(self, record: Record) -> tuple[list[Record] | None, str]:
        """What the flow's current mapping makes of ``record`` (None: a rule skips it; []:
        it fails, with why), exactly as a run transforms it."""
        if self.plan is None:
            return [dict(record)], ""
        result = self.plan.apply(record)
        if result.outcome == Outcome.SKIPPED:
            return None, ""
        if result.outcome == Outcome.FAILED or not result.records:
            return [], "; ".join(p.message for p in result.problems)
        return [to_json_safe(r) for r in result.records], ""

    def _twin(
        self,
        source_id: str,
        part: int,
        wanted: Record,
        twins: dict[tuple[str, int], tuple[str, int]],
        held: dict[str, Record],
        by_reference: dict[str, str],
    ) -> str | None:
        known = twins.get((source_id, part))
        if known is not None and known[0] in held:
            return known[0]
        if known is None and self.reference and (ref := field_text(wanted, self.reference)):
            return by_reference.get(ref)
        return None

    def _compare(
        self,
        source_id: str,
        record: Record,
        target_id: str,
        wanted: Record,
        current: Record,
        twins: dict[tuple[str, int], tuple[str, int]],
    ) -> None:
        diff = [
            {"field": name, "source": value, "target": current.get(name)}
            for name, value in wanted.items()
            if name not in self.ignore and not already_held(value, current.get(name),
                                                            ignore=self.ignore)
        ]  # fmt: skip
        if not diff:
            return
        flow = self.flow
        names = ", ".join(d["field"] for d in diff)
        known = twins.get((source_id, 1))
        self._find(
            FindingKind.DRIFT,
            source_id=source_id,
            target_id=target_id,
            record_id=known[1] if known else None,
            business_key=field_text(record, flow.business_key_field),
            field_diff=diff,
            source_value=_short(diff[0]["source"]),
            target_value=_short(diff[0]["target"]),
            message=f"{flow.target_connection.name} {flow.target_entity} {target_id} differs "
            f"from what {flow.source_connection.name} {source_id} maps to, in {names}: "
            "edited by hand there, or the mapping changed since it was sent.",
        )

    def _periods(self, source: Tally, target: Tally) -> None:
        flow = self.flow
        for period in sorted(set(source.counts) | set(target.counts)):
            ours, theirs = source.counts[period], target.counts[period]
            if ours != theirs:
                self._find(
                    FindingKind.COUNT_MISMATCH,
                    period=period,
                    source_value=str(ours),
                    target_value=str(theirs),
                    message=f"{period}: {flow.source_connection.name} has {ours} "
                    f"{flow.source_entity} to send, {flow.target_connection.name} holds "
                    f"{theirs} {flow.target_entity}.",
                )
            if self.amounts is None:
                continue
            ours_total, theirs_total = source.totals[period], target.totals[period]
            if ours_total.quantize(Decimal("0.01")) != theirs_total.quantize(Decimal("0.01")):
                self._find(
                    FindingKind.TOTAL_MISMATCH,
                    period=period,
                    source_value=f"{ours_total:.2f}",
                    target_value=f"{theirs_total:.2f}",
                    message=f"{period}: {self.setting.source_amount_field} totals "
                    f"{ours_total:.2f} in {flow.source_connection.name}, "
                    f"{self.setting.target_amount_field} {theirs_total:.2f} in "
                    f"{flow.target_connection.name} (difference "
                    f"{theirs_total - ours_total:.2f}).",
                )


def _read(record: Record, path: str) -> Any:
    return _getter(path)(record)


@lru_cache(maxsize=64)
def _getter(path: str) -> Getter:
    return getter(parse_path(path, "field"))


def _short(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 100 else text[:99] + "…"


# -- a run --------------------------------------------------------------------------------


def reconciliation_settings(pair_id: int) -> list[ReconciliationSetting]:
    """The pair's flows that reconcile, in a stable order."""
    return list(
        ReconciliationSetting.objects.filter(flow__pair_id=pair_id, enabled=True)
        .select_related("flow__source_connection", "flow__target_connection", "flow__mapping")
        .order_by("flow__name", "flow_id")
    )


def reconciliation_execute(*, run_id: int) -> ReconciliationRun:
    """Run a queued reconciliation to its end; a run already started or done is left alone."""
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
        if run.status != ReconciliationStatus.QUEUED:
            return run
        run.status, run.started_at = ReconciliationStatus.RUNNING, timezone.now()
        run.save(update_fields=["status", "started_at"])
    totals = FlowResult()
    settings = reconciliation_settings(run.pair_id)
    if not settings:
        message = "No flow of this pair reconciles: turn reconciliation on for a flow first."
        _finish(run, totals, ReconciliationStatus.FAILED, message)
        return run
    try:
        for setting in settings:
            flow = setting.flow
            reconciler = FlowReconciler(
                run,
                flow,
                setting,
                connector_for(flow.source_connection, background=True),
                connector_for(flow.target_connection, background=True),
            )
            result = reconciler.reconcile()
            totals.source_records += result.source_records
            totals.target_records += result.target_records
            totals.twins += result.twins
            totals.findings += result.findings
    except ConnectorError as exc:
        # What was found before the failure stays; the run says why it stopped.
        _finish(run, totals, ReconciliationStatus.FAILED, f"Stopped: {exc}")
        return run
    except Exception as exc:
        # Never left "running": a new run of the pair would wait for it for ever.
        _finish(run, totals, ReconciliationStatus.FAILED, f"Stopped by an error: {exc!r}")
        raise
    status = ReconciliationStatus.MISMATCHED if totals.findings else ReconciliationStatus.AGREED
    _finish(run, totals, status, "")
    return run


def _finish(
    run: ReconciliationRun, totals: FlowResult, status: ReconciliationStatus, message: str
) -> None:
    run.status, run.finished_at, run.message = status, timezone.now(), message
    run.source_records, run.target_records = totals.source_records, totals.target_records
    run.twins_compared, run.findings_count = totals.twins, totals.findings
    run.save()


# -- the nightly schedule -----------------------------------------------------------------

RECONCILE = "clarity.jobs.reconcile"
NIGHTLY = "clarity.jobs.reconciliation_nightly"
# A reconciliation reads whole entities at a share of the rate limit: hours, not minutes.
RECONCILE_TIMEOUT = 6 * 3600


def nightly_cron(schedule: ReconciliationSchedule) -> str:
    return f"{schedule.at.minute} {schedule.at.hour} * * *"


def reconciliation_schedule_register(*, schedule: ReconciliationSchedule) -> str:
    """Cancel the pair's nightly job and schedule the next one (in RQ's scheduler, as the
    flows' schedules are); returns its job id ("" when the schedule is off).

    The time is the server's local time (TIME_ZONE): "02:00" is two at night there.
    """
    queue = get_queue(DEFAULT_QUEUE)
    if schedule.job_id:
        job = Job.fetch_many([schedule.job_id], connection=queue.connection)[0]
        if job is not None:
            job.cancel()
            job.delete()
    job_id = ""
    if schedule.enabled:
        job_id = f"reconcile-{schedule.pair_id}-{uuid.uuid4().hex[:12]}"
        moment = next_fire(nightly_cron(schedule), after=timezone.localtime())
        queue.enqueue_at(moment, NIGHTLY, schedule.pair_id, job_id, job_id=job_id)
    ReconciliationSchedule.objects.filter(pk=schedule.pk).update(job_id=job_id)
    schedule.job_id = job_id
    return job_id


def reconciliation_schedules_ensure() -> int:
    """Register every nightly reconciliation whose job Redis no longer has; how many."""
    present = set(ScheduledJobRegistry(queue=get_queue(DEFAULT_QUEUE)).get_job_ids())
    missing = [
        schedule
        for schedule in ReconciliationSchedule.objects.filter(enabled=True)
        if schedule.job_id not in present
    ]
    for schedule in missing:
        reconciliation_schedule_register(schedule=schedule)
    return len(missing)


def reconciliation_enqueue(run: ReconciliationRun) -> None:
    """Queue the run's job once committed, in the default queue: a pair's own queue holds
    its flows' runs, which a long read must not stand in front of."""

    def send() -> None:
        get_queue(DEFAULT_QUEUE).enqueue(
            RECONCILE, run.pk, job_id=f"reconcile-run-{run.pk}", job_timeout=RECONCILE_TIMEOUT
        )

    transaction.on_commit(send)
