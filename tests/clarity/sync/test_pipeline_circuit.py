"""A system that is down: runs wait behind its circuit breaker instead of failing records.

Real flows (PostgreSQL, Redis, the SYSPRO and Xero sandboxes over loopback
HTTP with their fault injection) run as a worker runs them; the breaker is
the one every worker shares in Redis, and the dashboard is the real admin page.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db.models import Count
from django.urls import reverse

from clarity.models import ErrorKind, Flow, RecordStatus, RunStatus, SyncRecord, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.pipeline import RunDeferred, flow_run_execute
from connectors.circuit import CircuitState
from connectors.configs import connector_for
from connectors.models import Connection

pytestmark = pytest.mark.django_db(transaction=True)

COOLDOWN = 1.0
DASHBOARD = reverse("admin:clarity_healthdashboard_changelist")


def run(flow: Flow) -> tuple[SyncRun, RunDeferred | None]:
    """One run of the flow as a worker executes it: the run, and its deferral if any."""
    queued = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    try:
        return flow_run_execute(run_id=queued.pk), None
    except RunDeferred as deferred:
        return SyncRun.objects.get(pk=queued.pk), deferred


def with_breaker(connection: Connection, cooldown: float = COOLDOWN) -> Connection:
    """The connection with a breaker quick enough for a test (3 failures, a short cool-down)."""
    connection.refresh_from_db()
    breaker = {"threshold": 3, "cooldown": cooldown}
    settings = {**connection.settings, "circuit_breaker": breaker}
    Connection.objects.filter(pk=connection.pk).update(settings=settings)
    connection.refresh_from_db()
    return connection


def statuses(flow: Flow) -> dict[str, int]:
    rows = SyncRecord.objects.filter(flow=flow).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def requests_to(control: Any) -> int:
    return int(control.stats()["requests"])


def created(control: Any) -> int:
    return int(control.stats().get("created", {}).get("Contacts", 0))


def test_an_open_target_defers_the_run_and_hands_every_record_back_unsent(
    syspro_xero: dict[str, Any], superuser_client: Any
) -> None:
    flow, xero = syspro_xero["flow"], syspro_xero["xero"]
    # Longer than the run takes to read SYSPRO: the breaker is still open when it writes.
    connection = with_breaker(flow.target_connection, cooldown=4)
    breaker = connector_for(connection).breaker
    assert breaker is not None
    for _ in range(3):  # other workers met Xero failing: the shared breaker is open
        breaker.failed(breaker.before_call(), "server error, HTTP 503")
    xero.faults(shares={"5xx": 1.0}, path_prefix="/api.xro")
    calls = requests_to(xero)

    waiting, deferred = run(flow)
    assert deferred is not None and 0 < deferred.seconds <= 4
    assert waiting.status == RunStatus.QUEUED
    assert "Xero is not answering since" in waiting.message
    assert statuses(flow) == {RecordStatus.PENDING: 320}  # read, in the ledger, none failed
    assert requests_to(xero) == calls  # nothing was sent to Xero

    page = superuser_client.get(DASHBOARD).content.decode()
    assert "open since" in page and "server error, HTTP 503" in page

    xero.faults()  # Xero is back; the next run's first call is the probe
    time.sleep(deferred.seconds + 0.1)
    done, deferred = run(flow)
    assert deferred is None and done.status == RunStatus.PARTIAL, done.message
    assert breaker.status().state is CircuitState.CLOSED
    counts = statuses(flow)
    assert counts[RecordStatus.SUCCEEDED] == created(xero) == 319
    failed = SyncRecord.objects.get(flow=flow, status=RecordStatus.FAILED)
    assert failed.error_kind == ErrorKind.DATA  # the duplicate name, nothing of the outage
    assert "closed" in superuser_client.get(DASHBOARD).content.decode()


def test_a_target_going_down_mid_run_opens_the_breaker_and_no_record_fails(
    syspro_xero: dict[str, Any],
) -> None:
    flow, xero = syspro_xero["flow"], syspro_xero["xero"]
    with_breaker(flow.target_connection)
    xero.faults(shares={"5xx": 1.0}, path_prefix="/api.xro")

    first, deferred = run(flow)
    assert deferred is not None and first.status == RunStatus.QUEUED
    counts = statuses(flow)
    assert RecordStatus.FAILED not in counts
    # The one batch (Xero takes 50) whose write met the 5xx may have landed: it is looked
    # up before it is sent again. The batches after it were never sent.
    assert counts == {RecordStatus.UNKNOWN: 50, RecordStatus.PENDING: 270}

    calls = requests_to(xero)
    again, deferred = run(flow)
    assert deferred is not None and again.status == RunStatus.QUEUED
    assert requests_to(xero) == calls  # open: the next runs wait without calling Xero
    assert statuses(flow) == counts


def test_a_source_that_is_down_defers_the_run_before_anything_is_read(
    syspro_xero: dict[str, Any],
) -> None:
    flow, syspro = syspro_xero["flow"], syspro_xero["syspro"]
    with_breaker(flow.source_connection)
    syspro.faults(shares={"5xx": 1.0})

    waiting, deferred = run(flow)
    assert deferred is not None
    assert waiting.status == RunStatus.QUEUED
    assert "SYSPRO is not answering since" in waiting.message
    calls = requests_to(syspro)
    waiting, deferred = run(flow)
    assert deferred is not None and requests_to(syspro) == calls

    syspro.faults()
    time.sleep(COOLDOWN + 0.1)
    done, deferred = run(flow)
    assert deferred is None and done.status == RunStatus.PARTIAL, done.message
    assert sum(statuses(flow).values()) == 320
