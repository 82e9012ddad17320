"""A pair's go-live checklist: what must be true before Launch turns its flows live.

Each item says whether it is met, in words a consultant can act on, and where to fix
it. Launch (clarity/services/golive.py) refuses while any item is unmet; the pair's
admin page shows the same list with ticks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.urls import reverse
from django.utils.timezone import localtime

from clarity.models import AlertRule, Flow, IntegrationPair
from clarity.models.validation import ValidateOutcome, ValidateRun, ValidateStatus
from clarity.sync.schedules import polling_mode
from connectors.models import Connection
from mappings.engine import CompileError
from mappings.models import Mapping
from mappings.services import mapping_compile


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    ok: bool
    detail: str  # what was found, per connection or flow, and what to do when unmet
    link: str  # the admin page where it is fixed ("" when there is none)


def _when(moment: datetime) -> str:
    return f"{localtime(moment):%Y-%m-%d %H:%M}"


def _item(key: str, label: str, lines: Iterable[tuple[bool, str, str]]) -> ChecklistItem:
    """One item from its lines (ok, words, link): met when every line is; the link of the
    first unmet line (else of the first line)."""
    lines = list(lines)
    unmet = [line for line in lines if not line[0]]
    link = (unmet or lines)[0][2] if lines else ""
    return ChecklistItem(
        key=key,
        label=label,
        ok=bool(lines) and not unmet,
        detail=" ".join(words for _, words, _ in (unmet or lines)),
        link=link,
    )


def _connection_line(connection: Connection) -> tuple[bool, str, str]:
    link = reverse("admin:connectors_connection_change", args=[connection.pk])
    name = f"{connection.name} ({connection.get_environment_display()})"
    if connection.last_check_at is None or connection.last_check_ok is None:
        return False, f"{name} was never tested: use “Test connection” on its page.", link
    if not connection.last_check_ok:
        return (
            False,
            f"{name} failed its last test ({_when(connection.last_check_at)}): "
            f"{connection.last_check_message} Fix it and test again.",
            link,
        )
    if connection.last_check_at < connection.updated_at:
        return (
            False,
            f"{name} was tested ({_when(connection.last_check_at)}) before its last change "
            f"({_when(connection.updated_at)}): test it again.",
            link,
        )
    return True, f"{name} tested OK on {_when(connection.last_check_at)}.", link


def _flow_lines(
    flows: list[Flow], line: Callable[[Flow], tuple[bool, str, str]]
) -> list[tuple[bool, str, str]]:
    if not flows:
        return [(False, "The pair has no enabled flow: add or enable the flows to go live.", "")]
    return [line(flow) for flow in flows]


def _flow_link(flow: Flow) -> str:
    return reverse("admin:clarity_flow_change", args=[flow.pk])


def _mapping_line(flow: Flow) -> tuple[bool, str, str]:
    if flow.mapping is None:
        return (
            False,
            f"“{flow.name}” has no mapping: choose one on the flow's page.",
            _flow_link(flow),
        )
    link = reverse("admin:mappings_mapping_change", args=[flow.mapping.pk])
    try:
        mapping_compile(mapping=flow.mapping)
    except CompileError as exc:
        problems = " ".join(problem.message for problem in exc.problems)
        return (
            False,
            f"“{flow.name}”: mapping “{flow.mapping.name}” does not compile: {problems}",
            link,
        )
    return True, f"“{flow.name}”: mapping “{flow.mapping.name}” compiles.", link


def _mapping_changed_at(mapping: Mapping) -> datetime | None:
    """When the mapping, or a lookup table it uses, last changed: each such change closes
    with a history record of the mapping (mappings.services.mapping_touch and
    lookup_tables_touch)."""
    return (
        Mapping.history.filter(id=mapping.pk)
        .order_by("-history_date")
        .values_list("history_date", flat=True)
        .first()
    )


def _report_link(run: ValidateRun, **filters: str) -> str:
    """The run's report (its records), as the validate admin links to it."""
    query = "&".join(f"{k}={v}" for k, v in {"run": str(run.pk), **filters}.items())
    return f"{reverse('admin:clarity_validaterecord_changelist')}?{query}"


def _validate_line(flow: Flow) -> tuple[bool, str, str]:
    name = f"“{flow.name}”"
    run = ValidateRun.objects.filter(flow=flow).order_by("-pk").first()
    if run is None:
        return (
            False,
            f"{name} was never validated: start a validate run on the flow's page.",
            (_flow_link(flow)),
        )
    link = _report_link(run)
    if run.status in (ValidateStatus.QUEUED, ValidateStatus.RUNNING):
        return False, f"{name}: validate run #{run.pk} has not finished yet.", link
    if run.status == ValidateStatus.FAILED:
        return False, f"{name}: the latest validate run (#{run.pk}) failed: {run.message}", link
    if flow.mapping is not None:
        changed = _mapping_changed_at(flow.mapping)
        began = run.started_at or run.created_at
        if run.mapping_version != flow.mapping.version or (changed and began < changed):
            return (
                False,
                f"{name}: the latest validate run (#{run.pk}, {_when(began)}) is older than the "
                f"last change of its mapping or lookups"
                + (f" ({_when(changed)})" if changed else "")
                + ": it does not count; validate again.",
                _flow_link(flow),
            )
    failing = run.records.filter(outcome=ValidateOutcome.WOULD_FAIL)
    open_failures = failing.filter(Q(acknowledged_at__isnull=True) | Q(acknowledged_note=""))
    unacknowledged = open_failures.count()
    if unacknowledged:
        return (
            False,
            f"{name}: {unacknowledged} record(s) of validate run #{run.pk} would fail and are "
            "not acknowledged: fix them and validate again, or acknowledge each with a note.",
            _report_link(run, outcome=ValidateOutcome.WOULD_FAIL),
        )
    acknowledged = failing.count()
    return (
        True,
        f"{name}: validate run #{run.pk} ({_when(run.finished_at or run.created_at)}) "
        + (
            f"has {acknowledged} would-fail record(s), each acknowledged with a note."
            if acknowledged
            else "has no would-fail record."
        ),
        link,
    )


def _schedule_line(flow: Flow) -> tuple[bool, str, str]:
    runs_by_itself = flow.poll_adaptive or flow.trigger_schedule or flow.trigger_webhook
    if runs_by_itself or flow.manual_only:
        how = polling_mode(flow) if runs_by_itself else "manual runs only, on purpose"
        return True, f"“{flow.name}”: {how}.", _flow_link(flow)
    return (
        False,
        f"“{flow.name}” has no schedule and no events: set a schedule or events, or tick "
        "“manual runs only, on purpose” if it should only run when someone starts it.",
        _flow_link(flow),
    )


def _alerts_item(pair: IntegrationPair) -> ChecklistItem:
    rules = [
        rule
        for rule in AlertRule.objects.filter(pair=pair, enabled=True)
        if rule.recipient_list or rule.webhook_url
    ]
    if not rules:
        link = f"{reverse('admin:clarity_alertrule_add')}?pair={pair.pk}"
        return _item(
            "alerts",
            "Alerts configured",
            [
                (
                    False,
                    "No enabled alert rule with a recipient covers this pair: add one (e.g. "
                    "“More than N failures”) so someone hears when records fail.",
                    link,
                )
            ],
        )
    link = f"{reverse('admin:clarity_alertrule_changelist')}?pair__id__exact={pair.pk}"
    words = "; ".join(
        f"{rule.get_kind_display()} → {', '.join(rule.recipient_list) or rule.webhook_url}"
        for rule in rules
    )
    return _item("alerts", "Alerts configured", [(True, f"{words}.", link)])


def pair_checklist(*, pair: IntegrationPair) -> list[ChecklistItem]:
    """The pair's go-live items, in the order a consultant works through them."""
    connections = Connection.objects.filter(
        pk__in=[pair.connection_a_id, pair.connection_b_id]
    ).order_by("pk")
    flows = list(
        Flow.objects.filter(pair=pair, enabled=True).select_related("mapping").order_by("name")
    )
    return [
        _item(
            "connections",
            "Connections tested",
            [_connection_line(connection) for connection in connections],
        ),
        _item("mappings", "Mappings compile", _flow_lines(flows, _mapping_line)),
        _item("validate", "Validated", _flow_lines(flows, _validate_line)),
        _item("schedules", "Schedules set", _flow_lines(flows, _schedule_line)),
        _alerts_item(pair),
    ]
