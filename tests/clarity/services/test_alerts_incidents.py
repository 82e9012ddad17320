"""Alerts: one per incident, sent once by email and webhook, and one "resolved" when it clears."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import django_rq
import pytest
from django.conf import settings
from django.core import mail
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from clarity.jobs_maintenance import check_alerts
from clarity.models import Alert, AlertKind, AlertRule, Flow, RecordStatus
from clarity.services.alerts import alerts_check
from clarity.services.flows import flow_pause, flow_unpause
from clarity.services.maintenance import PRUNE_LOCK, maintenance_tick
from clarity.sync.pipeline import login_refused_reason
from connectors.configs import connector_for
from connectors.errors import ConnectorError, ErrorKind
from connectors.models import System
from tests.factories import ConnectionFactory, FlowFactory, PairFactory, RecordFactory, RunFactory

RULE_ADD = reverse("admin:clarity_alertrule_add")


@pytest.fixture
def flow(db) -> Flow:
    return FlowFactory(name="Customers → Contacts", pair__name="SYSPRO ↔ Xero")


def rule_for(flow: Flow, kind: str, **fields: Any) -> AlertRule:
    fields.setdefault("recipients", "ops@example.com, finance@example.com")
    return AlertRule.objects.create(pair=flow.pair, kind=kind, **fields)


def fail(flow: Flow, n: int) -> None:
    for _ in range(n):
        RecordFactory(flow=flow, status=RecordStatus.FAILED, error_kind="data")


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


# --- each kind: opens once for a burst, resolves once when it clears -----------------------


def test_a_burst_of_failures_is_one_alert_and_one_resolved_message(flow):
    rule = rule_for(flow, AlertKind.FAILURES_OVER, failures=3, window_minutes=15)
    fail(flow, 3)
    assert alerts_check() == {"opened": 0, "resolved": 0, "open": 0}  # 3 is not more than 3
    fail(flow, 5)
    assert alerts_check()["opened"] == 1
    fail(flow, 20)  # the burst goes on: still the same incident
    assert alerts_check() == {"opened": 0, "resolved": 0, "open": 1}
    assert alerts_check()["opened"] == 0

    assert len(mail.outbox) == 1
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "finance@example.com"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "Alert: SYSPRO ↔ Xero" in message.subject
    assert "8 ledger records of SYSPRO ↔ Xero failed in the last 15 minutes" in message.body
    alert = Alert.objects.get()
    assert alert.rule == rule and alert.is_open

    later = timezone.now() + timedelta(minutes=16)  # the window has passed the burst
    assert alerts_check(now=later) == {"opened": 0, "resolved": 1, "open": 0}
    assert alerts_check(now=later)["resolved"] == 0
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("[Clarity Connect] Resolved:")
    alert.refresh_from_db()
    assert alert.resolved_at == later
    assert alert.last_message.startswith("Resolved: ")


def test_a_scheduled_flow_that_missed_its_run_alerts_after_the_grace_period(flow):
    rule_for(flow, AlertKind.SCHEDULE_MISSED, grace_minutes=15)
    start = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    Flow.objects.filter(pk=flow.pk).update(
        trigger_schedule=True, schedule_cron="0 * * * *", created_at=start, updated_at=start
    )
    # Due at 10:00; late but within the grace period at 10:10.
    assert alerts_check(now=start + timedelta(minutes=40))["opened"] == 0
    assert alerts_check(now=start + timedelta(minutes=46))["opened"] == 1
    assert alerts_check(now=start + timedelta(minutes=50))["opened"] == 0
    assert len(mail.outbox) == 1
    assert "was due at 2026-01-05 10:00" in mail.outbox[0].body
    assert "it has never run" in mail.outbox[0].body
    assert Alert.objects.get().incident_key == f"flow:{flow.pk}"

    run = RunFactory(flow=flow)
    run.created_at = start + timedelta(minutes=52)  # it ran at last: next due at 11:00
    run.save(update_fields=["created_at"])
    assert alerts_check(now=start + timedelta(minutes=53))["resolved"] == 1
    assert alerts_check(now=start + timedelta(minutes=60))["resolved"] == 0
    assert len(mail.outbox) == 2 and "Resolved" in mail.outbox[1].subject

    # An unscheduled or switched-off flow is never "late".
    Flow.objects.filter(pk=flow.pk).update(enabled=False)
    assert alerts_check(now=start + timedelta(days=1))["opened"] == 0


def test_a_refused_login_is_one_alert_per_paused_flow_resolved_when_enabled_again(flow):
    rule_for(flow, AlertKind.AUTH_FAILURE)
    other = FlowFactory(pair=flow.pair, name="Invoices")
    refused = ConnectorError(ErrorKind.AUTH, "invalid_grant", "The refresh token was revoked.")
    flow_pause(flow=flow, reason=login_refused_reason(refused))
    assert alerts_check()["opened"] == 1
    assert alerts_check()["opened"] == 0
    assert len(mail.outbox) == 1
    assert "a login was refused: The refresh token was revoked." in mail.outbox[0].body
    flow_pause(flow=other, reason=login_refused_reason(refused))
    assert alerts_check() == {"opened": 1, "resolved": 0, "open": 2}  # a second incident

    # Enabling the flow again (admin, bundle or API: the flow services) clears the reason.
    flow_unpause(flow=flow, user=None)
    assert alerts_check() == {"opened": 0, "resolved": 1, "open": 1}
    assert alerts_check()["resolved"] == 0
    assert len(mail.outbox) == 3
    assert Alert.objects.get(resolved_at__isnull=True).incident_key == f"flow:{other.pk}"


def test_an_allowance_nearly_spent_alerts_from_the_shared_limiter(db):
    salesforce = ConnectionFactory(
        system=System.SALESFORCE,
        name="Salesforce",
        settings={"rate_limits": {"per_day": 20, "concurrent": 0}},
    )
    pair = PairFactory(
        connection_a=salesforce, connection_b=ConnectionFactory(system=System.KASHFLOW)
    )
    rule = AlertRule.objects.create(
        pair=pair, kind=AlertKind.ALLOWANCE_LOW, allowance_percent=10, recipients="ops@example.com"
    )
    limiter = connector_for(salesforce).limiter
    limiter.redis.delete(*limiter.keys)
    try:
        for _ in range(17):  # 3 of 20 left: 15%
            limiter.try_acquire()
        assert alerts_check()["opened"] == 0
        for _ in range(2):  # 1 of 20 left: 5%
            limiter.try_acquire()
        assert alerts_check()["opened"] == 1
        limiter.try_acquire()
        assert alerts_check()["opened"] == 0
        assert len(mail.outbox) == 1
        assert "Salesforce has 1 of its 20 daily API calls left" in mail.outbox[0].body
        assert Alert.objects.get(rule=rule).incident_key == f"connection:{salesforce.pk}"

        limiter.redis.delete(limiter.keys[1])  # a new day
        assert alerts_check()["resolved"] == 1
        assert alerts_check()["resolved"] == 0
        assert len(mail.outbox) == 2
    finally:
        limiter.redis.delete(*limiter.keys)


def test_an_unreadable_allowance_leaves_an_open_alert_open(db):
    xero = ConnectionFactory(system=System.XERO, name="Xero")  # not connected: no tenant
    pair = PairFactory(connection_a=ConnectionFactory(), connection_b=xero)
    rule = AlertRule.objects.create(
        pair=pair, kind=AlertKind.ALLOWANCE_LOW, recipients="ops@example.com"
    )
    Alert.objects.create(
        rule=rule, incident_key=f"connection:{xero.pk}", opened_at=timezone.now(), last_message="x"
    )
    assert alerts_check() == {"opened": 0, "resolved": 0, "open": 0}
    assert Alert.objects.get().is_open
    assert mail.outbox == []


def test_one_open_alert_per_rule_and_incident(flow):
    rule = rule_for(flow, AlertKind.AUTH_FAILURE)
    now = timezone.now()
    Alert.objects.create(rule=rule, incident_key="flow:1", opened_at=now, resolved_at=now)
    Alert.objects.create(rule=rule, incident_key="flow:1", opened_at=now)
    with pytest.raises(IntegrityError):
        Alert.objects.create(rule=rule, incident_key="flow:1", opened_at=now)


def test_disabled_rules_are_not_checked(flow):
    rule_for(flow, AlertKind.FAILURES_OVER, failures=0, enabled=False)
    fail(flow, 3)
    assert check_alerts() == {"opened": 0, "resolved": 0, "open": 0}
    assert mail.outbox == []


# --- the webhook ----------------------------------------------------------------------------


@pytest.fixture
def inbox() -> Iterator[dict[str, Any]]:
    """A real HTTP server on a free loopback port that records what is POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(
                {"content_type": self.headers["Content-Type"], "json": json.loads(body)}
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}/hooks/alerts", "received": received}
    finally:
        server.shutdown()
        server.server_close()


def test_the_webhook_receives_the_alert_and_its_resolution_once(flow, inbox):
    rule = rule_for(
        flow, AlertKind.FAILURES_OVER, failures=1, recipients="", webhook_url=inbox["url"]
    )
    fail(flow, 4)
    alerts_check()
    alerts_check()
    assert len(inbox["received"]) == 1
    opened = inbox["received"][0]
    assert opened["content_type"] == "application/json"
    assert opened["json"]["event"] == "opened"
    assert opened["json"]["rule_id"] == rule.pk
    assert opened["json"]["kind"] == "failures_over"
    assert opened["json"]["pair"] == {"id": flow.pair_id, "name": "SYSPRO ↔ Xero"}
    assert opened["json"]["resolved_at"] is None
    assert "4 ledger records" in opened["json"]["message"]
    assert mail.outbox == []  # no recipients: webhook only

    later = timezone.now() + timedelta(hours=1)
    alerts_check(now=later)
    alerts_check(now=later)
    assert len(inbox["received"]) == 2
    resolved = inbox["received"][1]["json"]
    assert resolved["event"] == "resolved"
    assert resolved["alert_id"] == opened["json"]["alert_id"]
    assert resolved["resolved_at"] is not None
    assert Alert.objects.get().delivery_problem == ""


def test_a_webhook_that_cannot_be_reached_is_logged_not_raised(flow, caplog):
    dead = "http://127.0.0.1:9/alerts"  # the discard port: nothing listens on loopback
    rule_for(flow, AlertKind.FAILURES_OVER, failures=0, webhook_url=dead)
    fail(flow, 1)
    assert alerts_check()["opened"] == 1
    assert len(mail.outbox) == 1  # the email still went
    alert = Alert.objects.get()
    assert alert.delivery_problem.startswith("webhook:")
    assert "the webhook http://127.0.0.1:9/alerts failed" in caplog.text


# --- housekeeping entry point -----------------------------------------------------------------


def test_the_maintenance_tick_checks_alerts_and_schedules_the_prune_hourly(flow):
    redis = django_rq.get_connection("default")
    redis.delete(PRUNE_LOCK)
    try:
        rule_for(flow, AlertKind.FAILURES_OVER, failures=0)
        fail(flow, 1)
        assert maintenance_tick() == {"alerts_opened": 1, "alerts_resolved": 0, "prune_enqueued": 1}
        assert maintenance_tick() == {"alerts_opened": 0, "alerts_resolved": 0, "prune_enqueued": 0}
        assert 0 < redis.ttl(PRUNE_LOCK) <= 3600
    finally:
        redis.delete(PRUNE_LOCK)


# --- rules in the admin -----------------------------------------------------------------------


def rule_data(pair_id: int, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "pair": pair_id,
        "kind": AlertKind.FAILURES_OVER,
        "enabled": "on",
        "failures": 10,
        "window_minutes": 15,
        "grace_minutes": 15,
        "allowance_percent": 10,
        "recipients": "ops@example.com\nfinance@example.com",
        "webhook_url": "",
    }
    data.update(overrides)
    return data


def test_a_consultant_adds_a_rule(consultant_client, flow):
    response = consultant_client.post(RULE_ADD, rule_data(flow.pair_id))
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = AlertRule.objects.get()
    assert rule.recipient_list == ["ops@example.com", "finance@example.com"]


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({"failures": -1}, "failures", "greater than or equal to 0"),
        ({"window_minutes": 0}, "window_minutes", "greater than or equal to 1"),
        ({"grace_minutes": -5}, "grace_minutes", "greater than or equal to 0"),
        ({"allowance_percent": 150}, "allowance_percent", "less than or equal to 99"),
        ({"recipients": "ops@example.com, not-an-email"}, "recipients", "not-an-email"),
        ({"recipients": "", "webhook_url": ""}, "recipients", "at least one email"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url", "valid URL"),
    ],
)
def test_bad_rule_input_is_a_form_error(operator_client, flow, overrides, field, error):
    response = operator_client.post(RULE_ADD, rule_data(flow.pair_id, **overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert error in " ".join(errors[field])
    assert not AlertRule.objects.exists()


def test_finance_reads_alerts_but_cannot_manage_rules(finance_client, flow):
    rule = rule_for(flow, AlertKind.AUTH_FAILURE)
    alert = Alert.objects.create(
        rule=rule, incident_key="flow:1", opened_at=timezone.now(), last_message="Paused."
    )
    assert finance_client.get(reverse("admin:clarity_alert_changelist")).status_code == 200
    detail = finance_client.get(reverse("admin:clarity_alert_change", args=[alert.pk]))
    assert detail.status_code == 200 and b"Paused." in detail.content
    assert finance_client.get(RULE_ADD).status_code == 403
    assert finance_client.post(RULE_ADD, rule_data(flow.pair_id)).status_code == 403


def test_the_rule_page_links_to_its_alerts(consultant_client, flow):
    rule = rule_for(flow, AlertKind.AUTH_FAILURE)
    Alert.objects.create(rule=rule, incident_key="flow:1", opened_at=timezone.now())
    page = consultant_client.get(reverse("admin:clarity_alertrule_change", args=[rule.pk]))
    assert page.status_code == 200
    listing = consultant_client.get(
        reverse("admin:clarity_alert_changelist"),
        {"rule__id__exact": rule.pk, "resolved_at__isempty": "1"},
    )
    assert listing.status_code == 200
    assert b"flow:1" in listing.content
