"""Launch and the rule it lifts: a production pair's flows only validate until it is launched.

Every way a run starts is tried on a production pair before Launch (a click, the API, a
schedule, a webhook or event, a retry, the sweeper) against the real PostgreSQL and Redis;
a sandbox pair runs without launching; a launched pair runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rq.registry import ScheduledJobRegistry

from clarity.models import (
    AlertKind,
    AlertRule,
    AuditEvent,
    Flow,
    IntegrationPair,
    RecordStatus,
    SyncRecord,
    SyncRun,
    Trigger,
    WebhookEvent,
)
from clarity.models.validation import ValidateOutcome, ValidateRecord
from clarity.services.alerts import alerts_check
from clarity.services.bundles import TEMPLATE_DIR, bundle_import
from clarity.services.flows import flow_create, flow_schedule_fire
from clarity.services.golive import pair_launch, validate_records_acknowledge
from clarity.services.ledger import ledger_records_retry
from clarity.services.runs import PairNotLaunched, flow_run_enqueue
from clarity.services.sweeper import sweep
from clarity.services.validation import validate_run_start
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from clarity.sync.schedules import schedules_ensure
from clarity.webhooks.services import webhook_events_store
from connectors.models import Environment
from connectors.webhooks import ChangeEvent, Subscriber
from tests.clarity.golive import production_pair, ready_pair, validated
from tests.factories import ConnectionFactory, FlowFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

REFUSAL = "Launch the pair 'SYSPRO ↔ Xero (live)' first: validate runs only until then."


def scheduled_job_ids() -> set[str]:
    return set(ScheduledJobRegistry(queue=get_queue(DEFAULT_QUEUE)).get_job_ids())


@pytest.fixture
def live_flow() -> Flow:
    """A production pair's flow, before Launch, that every trigger could start."""
    return FlowFactory(
        pair=production_pair(),
        trigger_webhook=True,
        trigger_schedule=True,
        schedule_cron="*/5 * * * *",
        source_entity="Contacts",
    )


# -- launch ---------------------------------------------------------------------------


def test_launch_is_refused_with_every_unmet_item_and_nothing_changes(
    django_capture_on_commit_callbacks,
) -> None:
    ready = ready_pair()
    ready.rule.delete()
    ready.failing.acknowledged_note, ready.failing.acknowledged_at = "", None
    ready.failing.save()
    user = UserFactory(role="Consultant")
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ValidationError) as refused,
    ):
        pair_launch(pair=ready.pair, user=user)
    assert refused.value.messages[0] == (
        "Pair 'SYSPRO ↔ Xero (live)' was not launched: 2 of 5 go-live items are not met yet."
    )
    assert refused.value.messages[1].startswith("Validated: “Customers → Contacts”: 1 record(s)")
    assert refused.value.messages[2].startswith("Alerts configured: No enabled alert rule")
    ready.pair.refresh_from_db()
    assert ready.pair.launched_at is None and ready.pair.launched_by is None
    assert not AuditEvent.objects.filter(action="pair_launch").exists()
    assert callbacks == []
    with pytest.raises(PairNotLaunched):
        flow_run_enqueue(flow=ready.flow, trigger=Trigger.MANUAL)


def test_launch_records_who_and_when_registers_schedules_and_flows_run(
    django_capture_on_commit_callbacks,
) -> None:
    ready = ready_pair()
    user = UserFactory(role="Consultant")
    assert Flow.objects.get(pk=ready.flow.pk).schedule_job_id == ""  # none before Launch
    with django_capture_on_commit_callbacks(execute=True):
        pair_launch(pair=ready.pair, user=user)
    ready.pair.refresh_from_db()
    assert ready.pair.launched_by == user and ready.pair.launched_at is not None
    audit = AuditEvent.objects.get(action="pair_launch")
    assert audit.user == user and audit.detail["pair"] == ready.pair.pk
    assert audit.detail["flows"] == [ready.flow.pk]
    job_id = Flow.objects.get(pk=ready.flow.pk).schedule_job_id
    assert job_id and job_id in scheduled_job_ids()

    run = flow_run_enqueue(flow=ready.flow, trigger=Trigger.MANUAL)
    assert SyncRun.objects.filter(pk=run.pk, flow=ready.flow).exists()

    with pytest.raises(ValidationError, match=r"is live already: launched on .* by "):
        pair_launch(pair=ready.pair, user=user)


# -- acknowledging would-fail records --------------------------------------------------


def test_acknowledging_needs_a_note_and_records_who_when_with_an_audit_row() -> None:
    ready = ready_pair()
    run = validated(ready.flow, failing=2, acknowledged=False)
    failing = run.records.filter(outcome=ValidateOutcome.WOULD_FAIL)
    user = UserFactory(role="Consultant")
    with pytest.raises(ValidationError, match="the note is required"):
        validate_records_acknowledge(records=failing, note="   ", user=user)
    assert not run.records.exclude(acknowledged_note="").exists()

    done = validate_records_acknowledge(
        records=run.records.all(), note=" Closed accounts, not migrated ", user=user
    )
    assert done == 2  # the would-create record needs no acknowledgement
    for record in ValidateRecord.objects.filter(pk__in=[r.pk for r in failing]):
        assert record.acknowledged_note == "Closed accounts, not migrated"
        assert record.acknowledged_by == user and record.acknowledged_at is not None
    assert not run.records.exclude(outcome=ValidateOutcome.WOULD_FAIL).filter(
        acknowledged_at__isnull=False
    )
    rows = AuditEvent.objects.filter(action="validate_acknowledge", user=user)
    assert {row.detail["validate_record"] for row in rows} == {r.pk for r in failing}
    assert {row.detail["note"] for row in rows} == {"Closed accounts, not migrated"}

    with pytest.raises(ValidationError, match="None of the selected records would fail"):
        validate_records_acknowledge(
            records=run.records.exclude(outcome=ValidateOutcome.WOULD_FAIL), note="x", user=user
        )


# -- every run entry point, before Launch -----------------------------------------------


@pytest.mark.parametrize("trigger", [Trigger.MANUAL, Trigger.API, Trigger.WEBHOOK, Trigger.RETRY])
def test_no_run_of_a_production_pair_before_launch(live_flow, trigger) -> None:
    with pytest.raises(PairNotLaunched) as refused:
        flow_run_enqueue(flow=live_flow, trigger=trigger, user=UserFactory())
    assert refused.value.messages == [f"{REFUSAL} Its go-live checklist is on the pair's page."]
    assert not SyncRun.objects.exists()


def test_either_connection_in_production_makes_it_a_production_pair(live_flow) -> None:
    live_flow.pair.connection_a.environment = Environment.SANDBOX
    live_flow.pair.connection_a.save()
    with pytest.raises(PairNotLaunched):
        flow_run_enqueue(flow=live_flow, trigger=Trigger.MANUAL)
    live_flow.pair.connection_b.environment = Environment.SANDBOX
    live_flow.pair.connection_b.save()
    assert flow_run_enqueue(flow=live_flow, trigger=Trigger.MANUAL).pk


def test_a_sandbox_pair_runs_without_launching() -> None:
    flow = FlowFactory()
    assert flow.pair.launched_at is None
    assert flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL).flow == flow


def test_the_api_answers_409_with_what_to_do(live_flow) -> None:
    client = APIClient()
    user = UserFactory(is_superuser=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = client.post(f"/api/flows/{live_flow.pk}/run/")
    assert response.status_code == 409
    assert REFUSAL in response.content.decode()
    assert not SyncRun.objects.exists()


def test_a_schedule_is_not_registered_before_launch_and_a_stale_job_runs_nothing(
    live_flow, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = flow_create(
            data={
                "pair": live_flow.pair,
                "name": "Invoices",
                "source_connection": live_flow.source_connection,
                "source_entity": "invoices",
                "target_connection": live_flow.target_connection,
                "target_entity": "Invoices",
                "trigger_schedule": True,
                "schedule_cron": "*/5 * * * *",
            },
            user=None,
        )
    assert Flow.objects.get(pk=created.pk).schedule_job_id == ""
    schedules_ensure()
    assert Flow.objects.get(pk=created.pk).schedule_job_id == ""

    # A job left from before the pair went to production (registered, then re-pointed).
    Flow.objects.filter(pk=live_flow.pk).update(schedule_job_id="schedule-old")
    assert flow_schedule_fire(flow_id=live_flow.pk, job_id="schedule-old") is True
    assert not SyncRun.objects.exists()
    assert Flow.objects.get(pk=live_flow.pk).schedule_job_id == ""  # and it is dropped


def test_webhooks_and_events_start_nothing_before_launch(live_flow) -> None:
    event = ChangeEvent(
        subscriber=Subscriber(key=live_flow.source_connection_id, secret=""),
        category="Contacts",
        event_type="UPDATE",
        record_ids=("C1",),
        entities=("Contacts",),
        raw={"resourceId": "C1", "eventCategory": "CONTACT"},
    )
    assert webhook_events_store(events=[event], process_now=True) == 1
    stored = WebhookEvent.objects.get()
    assert stored.status == "processed" and stored.run_ids == []
    assert not SyncRun.objects.exists()


def test_a_retry_is_refused_and_the_sweeper_leaves_the_records_waiting(live_flow) -> None:
    record = RecordFactory(flow=live_flow, status=RecordStatus.FAILED, error_kind="data")
    with pytest.raises(ValidationError, match="Launch the pair"):
        ledger_records_retry(records=SyncRecord.objects.filter(pk=record.pk), user=None)
    record.refresh_from_db()
    assert record.status == RecordStatus.FAILED  # nothing changed
    SyncRecord.objects.filter(pk=record.pk).update(status=RecordStatus.PENDING)
    assert sweep()["retry_runs"] == 0
    assert not SyncRun.objects.exists()


def test_a_launched_production_pair_runs_from_every_entry_point(live_flow) -> None:
    IntegrationPair.objects.filter(pk=live_flow.pair_id).update(launched_at="2026-01-01T00:00Z")
    for trigger in (Trigger.MANUAL, Trigger.API, Trigger.WEBHOOK, Trigger.RETRY):
        assert flow_run_enqueue(flow=live_flow, trigger=trigger).pk


def test_a_launched_pair_pointed_at_another_connection_waits_for_launch_again(
    live_flow,
) -> None:
    """A launch is of the systems checked: the same pair joined to another Xero organisation
    (the admin, or a bundle promoting it) validates only until it is launched again."""
    pair = live_flow.pair
    IntegrationPair.objects.filter(pk=pair.pk).update(launched_at="2026-01-01T00:00Z")
    pair.refresh_from_db()
    pair.description = "renamed, same systems"
    pair.save()
    assert IntegrationPair.objects.get(pk=pair.pk).launched_at is not None
    other = ConnectionFactory(system=pair.connection_b.system, environment=Environment.PRODUCTION)
    pair.connection_b = other
    pair.save(update_fields=["connection_b"])
    assert IntegrationPair.objects.get(pk=pair.pk).launched_at is None
    with pytest.raises(PairNotLaunched):
        flow_run_enqueue(flow=live_flow, trigger=Trigger.MANUAL)


def test_a_bundle_imported_into_a_new_production_pair_waits_for_launch(
    django_capture_on_commit_callbacks,
) -> None:
    template = json.loads((TEMPLATE_DIR / "syspro_xero.json").read_text())
    live = production_pair(name="Template pair")
    connections = {"a": live.connection_a, "b": live.connection_b}
    with django_capture_on_commit_callbacks(execute=True):
        pair = bundle_import(bundle=template, connections=connections, pair_name="Imported")
    assert pair.launched_at is None
    flows = list(pair.flows.all())
    assert any(flow.trigger_schedule for flow in flows)
    assert all(flow.schedule_job_id == "" for flow in flows)  # no schedule before Launch
    with pytest.raises(PairNotLaunched, match="Launch the pair 'Imported' first"):
        flow_run_enqueue(flow=flows[0], trigger=Trigger.MANUAL)


def test_a_schedule_is_not_missed_before_launch_and_counts_from_the_launch(live_flow) -> None:
    AlertRule.objects.create(
        pair=live_flow.pair, kind=AlertKind.SCHEDULE_MISSED, grace_minutes=15, recipients="a@b.c"
    )
    start = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    Flow.objects.filter(pk=live_flow.pk).update(
        schedule_cron="0 * * * *", created_at=start, updated_at=start
    )
    assert alerts_check(now=start + timedelta(days=3))["opened"] == 0  # it may not run yet

    launched = start + timedelta(days=3)  # 3 days later, at 09:30: next due at 10:00
    IntegrationPair.objects.filter(pk=live_flow.pair_id).update(launched_at=launched)
    assert alerts_check(now=launched + timedelta(minutes=40))["opened"] == 0
    assert alerts_check(now=launched + timedelta(minutes=46))["opened"] == 1


def test_a_production_pair_validates_before_launch(live_flow) -> None:
    run = validate_run_start(flow=live_flow, user=UserFactory())
    assert run.flow == live_flow and not SyncRun.objects.exists()
