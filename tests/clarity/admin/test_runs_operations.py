"""Run history and run progress pages in the admin, as each role uses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from clarity.models import RecordStatus, RunStatus, SyncRun
from tests.clarity.admin import operations
from tests.clarity.admin.operations import LEDGER
from tests.factories import RecordFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db
flow = operations.flow
empty_queues = operations.empty_queues  # autouse: each test starts with its queue empty


# -- runs --------------------------------------------------------------------------------


def test_a_running_runs_page_refreshes_itself_and_links_to_its_records(finance_client, flow):
    run = RunFactory(flow=flow, status=RunStatus.RUNNING, total_count=200, succeeded_count=120)
    mine = RecordFactory(flow=flow, run=run)
    RecordFactory(flow=flow)
    page = reverse("admin:clarity_syncrun_change", args=[run.pk])
    html = finance_client.get(page).content.decode()
    progress = reverse("admin:clarity_syncrun_progress", args=[run.pk])
    assert f'data-progress-url="{progress}"' in html and "clarity/run_progress.js" in html
    # A run reading its source does not know its total: counts so far, no bar.
    assert "120 done of 200 read so far; the source does not say how many more" in html
    assert "<progress" not in html
    assert f"?run={run.pk}" in html
    listed = finance_client.get(LEDGER, {"run": run.pk})
    assert [r.pk for r in listed.context["cl"].result_list] == [mine.pk]
    live = finance_client.get(progress).json()
    assert (live["active"], live["done"], live["total_known"]) == (True, 120, False)

    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, succeeded_count=200)
    html = finance_client.get(page).content.decode()
    assert "data-progress-url" not in html
    assert "200 done of 200 read (200 succeeded, 0 skipped, 0 failed)" in html
    assert finance_client.get(progress).json()["active"] is False


def test_a_retry_run_knows_its_total_and_shows_a_bar(finance_client, flow):
    run = RunFactory(
        flow=flow, trigger="retry", status=RunStatus.RUNNING, total_count=100,
        succeeded_count=30, failed_count=10,
    )  # fmt: skip
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert '40 of 100 done <progress value="40" max="100"></progress>' in html.content.decode()
    live = finance_client.get(reverse("admin:clarity_syncrun_progress", args=[run.pk])).json()
    assert (live["done"], live["total"], live["total_known"]) == (40, 100, True)


def test_a_run_whose_source_told_its_total_shows_a_bar(finance_client, flow):
    run = RunFactory(
        flow=flow, status=RunStatus.RUNNING, total_count=80, succeeded_count=50, expected_total=300
    )
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert '50 of 300 done <progress value="50" max="300"></progress>' in html.content.decode()
    live = finance_client.get(reverse("admin:clarity_syncrun_progress", args=[run.pk])).json()
    assert (live["done"], live["total"], live["total_known"]) == (50, 300, True)
    # Records that arrived while it read count too: the bar never runs past its end.
    SyncRun.objects.filter(pk=run.pk).update(succeeded_count=310, status=RunStatus.SUCCEEDED)
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert '310 of 310 done <progress value="310" max="310">' in html.content.decode()


def test_run_progress_needs_the_right_to_see_runs(client, flow):
    run = RunFactory(flow=flow, status=RunStatus.RUNNING)
    client.force_login(UserFactory(username="no-role"))
    assert client.get(reverse("admin:clarity_syncrun_progress", args=[run.pk])).status_code == 403


def test_a_run_is_titled_by_its_number_and_flow_name(finance_client, flow):
    run = RunFactory(flow=flow)
    html = finance_client.get(reverse("admin:clarity_syncrun_change", args=[run.pk]))
    assert f"Run #{run.pk} of flow “Customers → Contacts”" in html.content.decode()
    assert "Run #" in str(run) and f"of {flow.pk}" not in str(run)


def test_times_name_their_zone(finance_client, flow, settings):
    run = RunFactory(
        flow=flow, status=RunStatus.SUCCEEDED, started_at=datetime(2026, 7, 1, 9, 5, tzinfo=UTC)
    )
    RecordFactory(flow=flow, run=run)
    runs = finance_client.get(reverse("admin:clarity_syncrun_changelist")).content.decode()
    assert "1 Jul 2026, 09:05 UTC" in runs
    assert " UTC</td>" in finance_client.get(LEDGER).content.decode()
    settings.TIME_ZONE = "Europe/London"
    runs = finance_client.get(reverse("admin:clarity_syncrun_changelist")).content.decode()
    assert "1 Jul 2026, 10:05 BST" in runs


@pytest.mark.parametrize(
    "outcomes, shown",
    [
        ({"succeeded": 498, "skipped": 0, "failed": 2}, "0.4%"),
        ({"succeeded": 29_999, "skipped": 0, "failed": 1}, "<0.1%"),
        ({"succeeded": 1, "skipped": 0, "failed": 2_999}, ">99.9%"),
        ({"succeeded": 6, "skipped": 0, "failed": 2}, "25%"),
        ({"succeeded": 5, "skipped": 0, "failed": 0}, "0%"),
        ({"succeeded": 0, "skipped": 0, "failed": 0}, "—"),
    ],
)
def test_a_failure_rate_is_never_zero_when_something_failed(outcomes, shown):
    from clarity.templatetags.clarity_format import failure_rate

    assert failure_rate(outcomes) == shown


def test_the_dashboard_shows_two_failures_in_500_as_a_rate(operator_client, flow):
    from clarity.sync.hourly import ledger_outcomes_count

    ok = [RecordFactory(flow=flow) for _ in range(3)]
    failed = [RecordFactory(flow=flow, status=RecordStatus.FAILED) for _ in range(2)]
    ledger_outcomes_count(rows=ok * 166 + failed, at=datetime.now(UTC))
    html = operator_client.get(reverse("admin:clarity_healthdashboard_changelist"))
    html = html.content.decode()
    assert "<td>0.4%</td>" in html
    assert "Times are UTC." in html
