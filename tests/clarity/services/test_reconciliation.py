"""Reconciliation's services: settings checked against the connectors' schemas, the
nightly schedule in RQ's scheduler, runs, acknowledgements and the mismatch alert
(clarity/services/reconciliation.py)."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from rq.registry import ScheduledJobRegistry

from clarity.models import (
    Alert,
    AlertKind,
    AlertRule,
    AuditEvent,
    FindingKind,
    ReconciliationRun,
    ReconciliationSchedule,
    ReconciliationStatus,
    ReconciliationTrigger,
)
from clarity.services.reconciliation import (
    reconciliation_findings_acknowledge,
    reconciliation_nightly_fire,
    reconciliation_run_execute,
    reconciliation_run_start,
    reconciliation_schedule_save,
    reconciliation_setting_save,
)
from clarity.sync.queues import DEFAULT_QUEUE, get_queue
from connectors.models import System
from tests.clarity.conftest import connect_xero
from tests.clarity.reconciliation import ORDER_SETTING, reconciled_pair
from tests.factories import ConnectionFactory, FlowFactory, PairFactory, UserFactory


def scheduled_at(job_id: str) -> datetime.datetime:
    registry = ScheduledJobRegistry(queue=get_queue(DEFAULT_QUEUE))
    return timezone.localtime(registry.get_scheduled_time(job_id))


@pytest.fixture
def orders_flow(sandbox):
    """A sales orders → invoices flow whose Xero connection is signed in to a sandbox, so
    both connectors describe their fields."""
    xero = ConnectionFactory(system=System.XERO, base_url=sandbox("xero").url,
                             credentials={"client_id": "sandbox-client-id",
                                          "client_secret": "sandbox-client-secret"})  # fmt: skip
    connect_xero(xero)
    pair = PairFactory(connection_b=xero)
    return FlowFactory(pair=pair, source_connection=pair.connection_a, target_connection=xero,
                       source_entity="sales_orders", target_entity="Invoices")  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"source_amount_field": "SorDetails[].MPrice", "target_amount_field": "SubTotal"},
         "source_amount_field", "SorDetails"),
        ({"source_amount_field": "SorDetail[].MPrice*Lines[].Qty",
          "target_amount_field": "SubTotal"}, "source_amount_field", "same lines"),
        ({"source_amount_field": "Customer", "target_amount_field": "SubTotal"},
         "source_amount_field", "not an amount"),
        ({"source_amount_field": "SorDetail[].MPrice", "target_amount_field": "Totl"},
         "target_amount_field", "has no field 'Totl'"),
        ({"source_amount_field": "SorDetail[].MPrice"}, "target_amount_field", "both sides"),
        ({"source_date_field": "OrderDate", "target_date_field": "SubTotal"},
         "target_date_field", "not a date"),
        ({"target_scope": "Typ=ACCREC"}, "target_scope", "has no field 'Typ'"),
        ({"target_scope": "Type"}, "target_scope", "field=value"),
        ({"source_date_field": "Order Date", "target_date_field": "Date"},
         "source_date_field", "Did you mean 'OrderDate'"),
    ],
)  # fmt: skip
def test_a_setting_naming_a_field_the_systems_lack_is_refused_with_the_reason(
    orders_flow, data, field, words
):
    flow = orders_flow
    with pytest.raises(ValidationError) as refused:
        reconciliation_setting_save(flow=flow, data=data, user=None)
    assert field in refused.value.message_dict
    assert words in " ".join(refused.value.message_dict[field])
    assert not ReconciliationSchedule.objects.exists()


@pytest.mark.django_db
def test_the_first_reconciling_flow_gives_its_pair_a_nightly_run_at_two(
    orders_flow, django_capture_on_commit_callbacks
):
    get_queue(DEFAULT_QUEUE).empty()
    flow = orders_flow
    with django_capture_on_commit_callbacks(execute=True):
        reconciliation_setting_save(flow=flow, data=dict(ORDER_SETTING), user=None)
    schedule = ReconciliationSchedule.objects.get(pair=flow.pair)
    assert schedule.at == datetime.time(2, 0) and schedule.job_id
    when = scheduled_at(schedule.job_id)
    assert (when.hour, when.minute) == (2, 0)
    assert when - timezone.localtime() <= datetime.timedelta(days=1)
    assert AuditEvent.objects.filter(action="reconciliation_setting_save", flow=flow).exists()

    # A consultant moves it: the old job goes, the new one fires at the new time.
    old = schedule.job_id
    with django_capture_on_commit_callbacks(execute=True):
        schedule = reconciliation_schedule_save(
            pair=flow.pair, data={"at": datetime.time(23, 30)}, user=None
        )
    assert schedule.job_id != old
    assert old not in ScheduledJobRegistry(queue=get_queue(DEFAULT_QUEUE)).get_job_ids()
    assert (scheduled_at(schedule.job_id).hour, scheduled_at(schedule.job_id).minute) == (23, 30)

    # The job fires: a nightly run is queued and the next night registered; a job left
    # behind by the edit does nothing.
    assert reconciliation_nightly_fire(pair_id=flow.pair_id, job_id=old) is False
    fired = schedule.job_id
    with django_capture_on_commit_callbacks(execute=True):
        assert reconciliation_nightly_fire(pair_id=flow.pair_id, job_id=fired) is True
    run = ReconciliationRun.objects.get(pair=flow.pair)
    assert (run.trigger, run.status) == (ReconciliationTrigger.NIGHTLY, ReconciliationStatus.QUEUED)
    assert get_queue(DEFAULT_QUEUE).fetch_job(f"reconcile-run-{run.pk}") is not None
    schedule.refresh_from_db()
    assert schedule.job_id not in ("", fired)

    # Asked again while it is queued: the same run, not a second one.
    assert reconciliation_run_start(pair=flow.pair, user=None) == run


@pytest.mark.django_db(transaction=True)
def test_a_mismatch_alerts_once_and_resolves_when_acknowledged_or_agreed_again(sandbox):
    setup = reconciled_pair(sandbox, orders=3)
    AlertRule.objects.create(
        pair=setup.pair, kind=AlertKind.RECONCILIATION_MISMATCH, recipients="finance@example.com"
    )
    number = setup.order_numbers()[0]
    invoice = setup.xero_invoice(f"SO-{number}")
    setup.xero_edit(invoice["InvoiceID"], Reference="typed in Xero")
    finance = UserFactory()

    run = reconciliation_run_execute(run_id=reconciliation_run_start(pair=setup.pair,
                                                                     user=finance).pk)  # fmt: skip
    assert run.status == ReconciliationStatus.MISMATCHED
    assert len(mail.outbox) == 1
    assert "1 fields differ (drift)" in mail.outbox[0].body
    alert = Alert.objects.get(rule__pair=setup.pair)
    # The next night finds the same: still the one alert, no second message.
    again = reconciliation_run_execute(run_id=reconciliation_run_start(pair=setup.pair,
                                                                       user=None).pk)  # fmt: skip
    assert again.status == ReconciliationStatus.MISMATCHED
    assert Alert.objects.filter(rule__pair=setup.pair).count() == 1 and len(mail.outbox) == 1

    with pytest.raises(ValidationError, match="note"):
        reconciliation_findings_acknowledge(findings=again.findings.all(), note=" ", user=finance)
    acknowledged = reconciliation_findings_acknowledge(
        findings=again.findings.all(), note="Customer asked for the new reference.", user=finance
    )
    assert acknowledged == 1
    finding = again.findings.get()
    assert finding.kind == FindingKind.DRIFT and finding.acknowledged_by == finance
    assert AuditEvent.objects.filter(action="reconciliation_acknowledge", user=finance).exists()
    alert.refresh_from_db()
    assert alert.resolved_at is not None and len(mail.outbox) == 2
    assert "Resolved" in mail.outbox[1].subject

    # A new mismatch opens a new alert; putting Xero right and reconciling resolves it.
    setup.xero_edit(invoice["InvoiceID"], Reference="typed again")
    reconciliation_run_execute(run_id=reconciliation_run_start(pair=setup.pair, user=None).pk)
    assert Alert.objects.filter(rule__pair=setup.pair, resolved_at__isnull=True).count() == 1
    setup.xero_edit(invoice["InvoiceID"], Reference=invoice["Reference"])
    clean = reconciliation_run_execute(
        run_id=reconciliation_run_start(pair=setup.pair, user=None).pk
    )
    assert clean.status == ReconciliationStatus.AGREED
    assert not Alert.objects.filter(rule__pair=setup.pair, resolved_at__isnull=True).exists()
    assert len(mail.outbox) == 4


@pytest.mark.django_db
def test_a_run_whose_worker_died_does_not_block_the_next_one(orders_flow):
    pair = orders_flow.pair
    long_ago = timezone.now() - datetime.timedelta(hours=7)
    dead = ReconciliationRun.objects.create(
        pair=pair, trigger=ReconciliationTrigger.NIGHTLY, status=ReconciliationStatus.RUNNING,
        started_at=long_ago,
    )  # fmt: skip
    fresh = reconciliation_run_start(pair=pair, user=None)
    assert fresh != dead and fresh.status == ReconciliationStatus.QUEUED
    dead.refresh_from_db()
    assert dead.status == ReconciliationStatus.FAILED and "worker ended" in dead.message


@pytest.mark.django_db
def test_a_pair_with_no_reconciling_flow_fails_its_run_saying_what_to_do(orders_flow):
    run = reconciliation_run_start(pair=orders_flow.pair, user=None)
    run = reconciliation_run_execute(run_id=run.pk)
    assert run.status == ReconciliationStatus.FAILED
    assert "turn reconciliation on for a flow" in run.message
