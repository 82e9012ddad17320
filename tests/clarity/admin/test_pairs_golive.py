"""The pair page: its go-live checklist with ticks, the Launch button, and who launched when.

Through the real admin pages as a consultant (who may launch), an operator (who may not)
and a superuser; the run-now button of a flow on a production pair before Launch says
what to do.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from clarity.models import AuditEvent, Flow, IntegrationPair, SyncRun
from tests.clarity.admin.operations import messages_of
from tests.clarity.golive import production_pair, ready_pair
from tests.factories import FlowFactory, PairFactory

pytestmark = pytest.mark.django_db


def test_the_pair_page_shows_the_checklist_with_ticks_and_a_launch_button(consultant_client):
    ready = ready_pair()
    ready.rule.delete()
    page = consultant_client.get(
        reverse("admin:clarity_integrationpair_change", args=[ready.pair.pk])
    ).content.decode()
    assert page.count('class="golive-met"') == 4 and page.count('class="golive-unmet"') == 1
    assert "No enabled alert rule with a recipient covers this pair" in page
    assert reverse("admin:clarity_alertrule_add") in page  # where to fix it
    assert "Not launched: its flows only validate until Launch" in page
    assert reverse("admin:clarity_integrationpair_launch", args=[ready.pair.pk]) in page


def test_launch_refused_lists_what_is_missing_and_changes_nothing(consultant_client):
    ready = ready_pair()
    ready.rule.delete()
    url = reverse("admin:clarity_integrationpair_launch", args=[ready.pair.pk])
    response = consultant_client.post(url, follow=True)
    said = messages_of(response)
    assert "was not launched: 1 of 5 go-live items are not met yet." in said
    assert "Alerts configured: No enabled alert rule" in said
    assert IntegrationPair.objects.get(pk=ready.pair.pk).launched_at is None
    assert not AuditEvent.objects.filter(action="pair_launch").exists()


def test_launch_from_the_page_records_who_and_when_and_the_list_shows_it(
    consultant_client, consultant, django_capture_on_commit_callbacks
):
    ready = ready_pair()
    url = reverse("admin:clarity_integrationpair_launch", args=[ready.pair.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = consultant_client.post(url, follow=True)
    assert "is live: its 1 enabled flow(s) run from now on" in messages_of(response)
    pair = IntegrationPair.objects.get(pk=ready.pair.pk)
    assert pair.launched_by == consultant and pair.launched_at is not None
    assert Flow.objects.get(pk=ready.flow.pk).schedule_job_id
    # No Launch button once live; the list says since when and by whom.
    page = response.content.decode()
    assert url not in page and "Live since" in page
    listing = consultant_client.get(reverse("admin:clarity_integrationpair_changelist"))
    assert f"by {consultant.username}" in listing.content.decode()


def test_launch_takes_the_launch_permission(operator_client):
    ready = ready_pair()
    url = reverse("admin:clarity_integrationpair_launch", args=[ready.pair.pk])
    assert operator_client.post(url).status_code == 403
    assert IntegrationPair.objects.get(pk=ready.pair.pk).launched_at is None
    page = operator_client.get(
        reverse("admin:clarity_integrationpair_change", args=[ready.pair.pk])
    ).content.decode()
    assert url not in page


def test_the_list_tells_sandbox_pairs_from_pairs_awaiting_launch(superuser_client):
    PairFactory(name="Trial")
    production_pair(name="Live one")
    page = superuser_client.get(reverse("admin:clarity_integrationpair_changelist"))
    text = page.content.decode()
    assert "Sandbox: runs without Launch" in text
    assert "Not launched: its flows only validate until Launch" in text


def test_run_now_on_a_production_pair_before_launch_says_what_to_do(consultant_client):
    flow = FlowFactory(pair=production_pair())
    response = consultant_client.post(
        reverse("admin:clarity_flow_run", args=[flow.pk]), follow=True
    )
    assert "Launch the pair 'SYSPRO ↔ Xero (live)' first: validate runs only until then." in (
        messages_of(response)
    )
    assert not SyncRun.objects.exists()


def test_a_flow_is_marked_manual_only_on_purpose_on_its_page(consultant_client):
    flow = FlowFactory(pair=production_pair())
    page = consultant_client.get(reverse("admin:clarity_flow_change", args=[flow.pk]))
    assert 'name="manual_only"' in page.content.decode()
