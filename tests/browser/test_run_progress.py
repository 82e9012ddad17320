"""A run's page follows the run by itself: no reload by hand, no bar that is always full."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clarity.models import RunStatus, SyncRun
from tests.factories import RunFactory, UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("viewport", ["laptop"]),
]


def test_a_runs_page_redraws_its_progress_until_the_run_ends(people):
    run = RunFactory(trigger="retry", status=RunStatus.RUNNING, total_count=100, succeeded_count=40)
    UserFactory(username="finance1", role="Finance")
    finance = people("finance")
    finance.log_in("finance1")
    page = finance.page
    assert finance.goto(f"/admin/clarity/syncrun/{run.pk}/change/") == 200
    progress = page.locator(".run-progress")
    expect(progress).to_contain_text("40 of 100 done")
    expect(progress.locator("progress")).to_have_attribute("value", "40")
    finance.shot("running")

    SyncRun.objects.filter(pk=run.pk).update(succeeded_count=70)
    expect(progress).to_contain_text("70 of 100 done", timeout=8_000)  # no reload by hand
    SyncRun.objects.filter(pk=run.pk).update(succeeded_count=100, status=RunStatus.SUCCEEDED)
    expect(page.locator(".fieldBox.field-status .readonly")).to_have_text(
        "Succeeded", timeout=8_000
    )
    expect(progress).to_contain_text("100 of 100 done")
    assert page.locator("#run-live").count() == 0  # finished: it stops asking
    finance.shot("finished")
