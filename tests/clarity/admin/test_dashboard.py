"""The health dashboard: what it shows, who sees it, and a cost that does not grow with rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clarity.models import LedgerHourlyCount, RecordStatus, RunStatus
from clarity.selectors.health import CHART_HOURS, pairs_health
from clarity.sync.hourly import hour_of, ledger_outcomes_count
from tests.factories import FlowFactory, RecordFactory, RunFactory, UserFactory

DASHBOARD = reverse("admin:clarity_healthdashboard_changelist")


@pytest.fixture
def flow(db):
    return FlowFactory(name="Customers → Contacts")


def records(flow, n: int, status: str = RecordStatus.SUCCEEDED, **extra):
    return [RecordFactory(flow=flow, status=status, **extra) for _ in range(n)]


def test_outcomes_are_counted_per_hour_and_status(flow):
    now = timezone.now()
    ledger_outcomes_count(rows=records(flow, 3), at=now)
    failed = records(flow, 2, RecordStatus.FAILED, error_kind="data", error_code="lookup_missing")
    ledger_outcomes_count(rows=failed + records(flow, 1, RecordStatus.PENDING), at=now)
    ledger_outcomes_count(rows=records(flow, 1), at=now)
    counts = dict(LedgerHourlyCount.objects.filter(flow=flow).values_list("status", "count"))
    assert counts == {"succeeded": 4, "failed": 2}
    assert set(LedgerHourlyCount.objects.values_list("hour", flat=True)) == {hour_of(now)}


def test_health_shows_last_run_today_failure_rate_and_oldest_failure(flow):
    RunFactory(flow=flow, status=RunStatus.SUCCEEDED)
    last = RunFactory(flow=flow, status=RunStatus.PARTIAL)
    oldest, _ = records(flow, 2, RecordStatus.FAILED, error_code="http_503")
    ok = records(flow, 6)
    now = timezone.now()
    ledger_outcomes_count(rows=[*ok, oldest, _], at=now)
    ledger_outcomes_count(rows=ok, at=now - timedelta(days=3))
    ledger_outcomes_count(rows=ok, at=now - timedelta(days=8))  # outside the chart

    (pair,) = pairs_health(now=now)
    (health,) = pair.flows
    assert health.last_run == last
    assert health.today == {"succeeded": 6, "skipped": 0, "failed": 2, "undecided": 0}
    assert health.failure_rate == 0.25
    assert health.oldest_failure_id == oldest.pk
    assert len(pair.hourly) == CHART_HOURS
    assert pair.hourly[-1].records == 8 and pair.hourly[-1].failures == 2
    assert sum(h.records for h in pair.hourly) == 14
    assert pair.queue_depth == 0
    assert [c.name for c in pair.connections] == [
        flow.pair.connection_a.name,
        flow.pair.connection_b.name,
    ]


def test_headroom_reads_the_limiter_without_taking_a_permit(flow):
    syspro = flow.pair.connection_a
    syspro.settings = {"company_id": "EDU1", "calls_per_minute": 30, "concurrent_calls": 2}
    syspro.save()
    first = pairs_health()[0].connections[0]
    second = pairs_health()[0].connections[0]
    assert first.minute_remaining == second.minute_remaining == 30
    assert first.concurrent_free == 2
    assert first.day_remaining is None
    xero = pairs_health()[0].connections[1]
    assert "Connect to Xero" in xero.problem  # no organisation chosen yet


def test_page_shows_flows_and_an_svg_chart(operator_client, flow):
    failed = records(flow, 1, RecordStatus.FAILED, error_code="http_503")
    ledger_outcomes_count(rows=[*failed, *records(flow, 3)])
    html = operator_client.get(DASHBOARD).content.decode()
    assert "Customers → Contacts" in html
    assert "<svg" in html and html.count('class="failures"') == CHART_HOURS
    assert f"?flow={flow.pk}&amp;status=failed" in html
    assert reverse("admin:clarity_syncrecord_change", args=[failed[0].pk]) in html
    assert "25%" in html
    assert "http://" not in html.split("<svg")[1].split("</svg>")[0].replace(
        "http://www.w3.org", ""
    )


@pytest.mark.parametrize("role", ["operator", "consultant", "finance", "superuser"])
def test_roles_that_read_runs_and_the_ledger_see_it(request, role, flow):
    client = request.getfixturevalue(f"{role}_client")
    assert client.get(DASHBOARD).status_code == 200
    assert DASHBOARD in client.get(reverse("admin:index")).content.decode()


def test_others_are_refused(client, db):
    client.force_login(UserFactory(username="nobody"))
    assert client.get(DASHBOARD).status_code == 403
    client.logout()
    assert client.get(DASHBOARD).status_code == 302  # to the login page


def test_query_count_stays_flat_as_the_ledger_grows(operator_client, flow):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert operator_client.get(DASHBOARD).status_code == 200
        return len(ctx.captured_queries)

    RunFactory(flow=flow)
    ledger_outcomes_count(rows=records(flow, 5) + records(flow, 2, RecordStatus.FAILED))
    small = queries()
    for days in range(1, 7):
        rows = records(flow, 20) + records(flow, 5, RecordStatus.FAILED)
        ledger_outcomes_count(rows=rows, at=timezone.now() - timedelta(days=days))
        RunFactory(flow=flow)
    assert queries() == small
