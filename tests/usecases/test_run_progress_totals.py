"""A run's progress bar where the source tells its total (Salesforce's totalSize), and no bar
where it does not (KashFlow): the shipped Salesforce ↔ KashFlow template, real RQ workers,
both sandboxes over HTTP on loopback."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from clarity.models import Flow, RunStatus, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.pipeline import flow_run_execute
from tests.usecases.sf_kf_fixtures import (
    ACCOUNTS,
    CUSTOMERS_TO_ACCOUNTS,
    sf_kf,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


def run_urls(run: SyncRun) -> tuple[str, str]:
    return (
        reverse("admin:clarity_syncrun_change", args=[run.pk]),
        reverse("admin:clarity_syncrun_progress", args=[run.pk]),
    )


class Watcher(threading.Thread):
    """Looks at a run while workers run it: its row, its progress JSON and its page, once
    the run is running with a total and not yet done."""

    def __init__(self, run: SyncRun, client: Any) -> None:
        super().__init__(daemon=True)
        self.run_id, self.client = run.pk, client
        self.page, self.progress = run_urls(run)
        self.seen: dict[str, Any] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                run = SyncRun.objects.get(pk=self.run_id)
                total = run.expected_total
                if run.status == RunStatus.RUNNING and total and 0 < run.done_count < total:
                    self.seen = {
                        "expected_total": total,
                        "live": self.client.get(self.progress).json(),
                        "html": self.client.get(self.page).content.decode(),
                    }
                    return
                time.sleep(0.02)
        finally:
            connection.close()


def test_a_salesforce_run_shows_done_of_the_query_total_with_a_bar(sf_kf, finance_client):  # noqa: F811
    uc = sf_kf()
    uc.sf_app.options["query_batch_size"] = 40  # more Accounts than one page: 4 pages
    uc.kf_control.faults(latency=0.01)  # a run long enough to be seen while it works
    matching = len(uc.sf_app.data["Account"])
    assert matching > 3 * 40

    run = flow_run_enqueue(flow=uc.flow(ACCOUNTS), trigger=Trigger.MANUAL)
    watcher = Watcher(run, finance_client)
    watcher.start()
    try:
        uc.work()
    finally:
        watcher.stop.set()
        watcher.join(10)
    run.refresh_from_db()
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message

    # While it ran: the total from the first page's totalSize, before the last page was read.
    seen = watcher.seen
    assert seen, "the run was never seen running with a total"
    assert seen["expected_total"] == matching
    live = seen["live"]
    assert (live["active"], live["total"], live["total_known"]) == (True, matching, True)
    assert 0 < live["done"] < matching
    assert f'of {matching} done <progress value="' in live["progress_html"]
    assert f'max="{matching}"></progress>' in seen["html"]
    assert 'id="run-live"' in seen["html"]  # and it refreshes itself

    # After: every matching record done, the bar full.
    assert (run.expected_total, run.done_count) == (matching, matching)
    page, progress = run_urls(run)
    html = finance_client.get(page).content.decode()
    assert (
        f'{matching} of {matching} done <progress value="{matching}" max="{matching}"></progress>'
        in html
    )
    live = finance_client.get(progress).json()
    assert (live["active"], live["done"], live["total"], live["total_known"]) == (
        False,
        matching,
        matching,
        True,
    )


def test_a_run_whose_source_tells_no_total_shows_counts_without_a_bar(sf_kf, finance_client):  # noqa: F811
    uc = sf_kf()
    run = uc.run(CUSTOMERS_TO_ACCOUNTS)  # KashFlow: its lists say nothing of a total
    assert run.expected_total is None and run.total_count > 0
    page, progress = run_urls(run)
    html = finance_client.get(page).content.decode()
    assert f"{run.done_count} done of {run.total_count} read (" in html
    assert "<progress" not in html
    live = finance_client.get(progress).json()
    assert (live["total"], live["total_known"]) == (run.total_count, False)
    assert "<progress" not in live["progress_html"]


def test_a_resumed_run_counts_what_was_done_before_into_its_total(sf_kf):  # noqa: F811
    uc = sf_kf()
    uc.sf_app.options["query_batch_size"] = 40
    matching = len(uc.sf_app.data["Account"])
    flow = uc.flow(ACCOUNTS)
    # A worker died after the first page: its 40 records done, the cursor after them.
    first = next(uc.sf().read_changes("Account", None))
    Flow.objects.filter(pk=flow.pk).update(cursor=first.cursor)
    run = SyncRun.objects.create(
        flow=flow, trigger=Trigger.MANUAL, status=RunStatus.RUNNING, total_count=40,
        succeeded_count=40,
    )  # fmt: skip

    run = flow_run_execute(run_id=run.pk)
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
    # The read after the cursor says matching - 40; the 40 done before come on top.
    assert (run.expected_total, run.done_count) == (matching, matching)
