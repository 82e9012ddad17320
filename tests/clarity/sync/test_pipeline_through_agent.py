"""Runs of a SYSPRO → Xero flow whose SYSPRO connection is reached through an on-premises
agent (the relay endpoints on the live server, a fake agent from the connectors' agent
tests): the run passes end to end, waits while no agent is online, and an agent killed
mid-run then replaced loses and doubles nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Count

from clarity.models import Flow, RecordStatus, RunStatus, SyncRecord, SyncRun, Trigger
from clarity.services.runs import flow_run_enqueue
from clarity.sync.pipeline import RunDeferred, flow_run_execute
from connectors.agents.services import agent_create
from connectors.models import Connection
from tests.connectors.agents.conftest import UNREACHABLE_SYSPRO, FakeAgent

pytestmark = pytest.mark.django_db(transaction=True)

# The SYSPRO sandbox's seed: 320 customers, one of them with a name Xero already has (a data
# failure a direct connection gets too, as tests.clarity.sync.test_pipeline_circuit.py shows).
EXPECTED = {RecordStatus.SUCCEEDED: 319, RecordStatus.FAILED: 1}


def through_agent(connection: Connection, **settings: Any) -> Connection:
    """The connection as the customer's would be: no SYSPRO address, no password here."""
    connection.base_url = UNREACHABLE_SYSPRO
    connection.credentials = {}
    connection.secrets_origin = ""
    connection.settings = {
        **connection.settings,
        "through_agent": True,
        "timeout": 2,
        "page_size": 50,
        **settings,
    }
    connection.save()
    return connection


def execute(run_id: int) -> tuple[SyncRun, RunDeferred | None]:
    try:
        return flow_run_execute(run_id=run_id), None
    except RunDeferred as deferred:
        return SyncRun.objects.get(pk=run_id), deferred


def statuses(flow: Flow) -> dict[str, int]:
    rows = SyncRecord.objects.filter(flow=flow).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def contacts(control: Any) -> int:
    return int(control.stats().get("created", {}).get("Contacts", 0))


@pytest.fixture
def agents() -> Any:
    started: list[FakeAgent] = []
    yield started
    for agent in started:
        agent.stop()


def test_a_run_passes_end_to_end_through_the_agent(live_server, syspro_xero, agents):
    flow = syspro_xero["flow"]
    syspro = through_agent(flow.source_connection)
    _, token = agent_create(connection=syspro, name="app01")
    agent = FakeAgent(live_server.url, token, syspro_xero["syspro_server"].url)
    agents.append(agent.start())

    done, deferred = execute(flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL).pk)
    assert deferred is None and done.status == RunStatus.PARTIAL, done.message
    assert statuses(flow) == EXPECTED
    failed = SyncRecord.objects.get(flow=flow, status=RecordStatus.FAILED)
    assert failed.error_code == "duplicate_contact_name"  # the seed's, nothing of the relay
    assert contacts(syspro_xero["xero"]) == 319
    # Every connection SYSPRO saw was the agent's: the server made none of its own.
    assert syspro_xero["syspro"].stats()["requests"] == agent.sent_to_syspro


def test_with_no_agent_online_the_run_waits_and_nothing_fails(syspro_xero):
    flow = syspro_xero["flow"]
    through_agent(flow.source_connection)
    waiting, deferred = execute(flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL).pk)
    assert deferred is not None
    assert waiting.status == RunStatus.QUEUED
    assert "on-premises agent" in waiting.message
    assert not SyncRecord.objects.filter(flow=flow, status=RecordStatus.FAILED).exists()
    assert syspro_xero["syspro"].stats()["requests"] == 0


def test_an_agent_killed_mid_run_then_replaced_loses_and_doubles_nothing(
    live_server, syspro_xero, agents
):
    flow = syspro_xero["flow"]
    syspro = through_agent(flow.source_connection)
    _, token = agent_create(connection=syspro, name="app01")
    dying = FakeAgent(live_server.url, token, syspro_xero["syspro_server"].url, die_after=3)
    agents.append(dying.start())

    waiting, deferred = execute(flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL).pk)
    assert deferred is not None and waiting.status == RunStatus.QUEUED, waiting.message
    assert not SyncRecord.objects.filter(flow=flow, status=RecordStatus.FAILED).exists()
    assert len(dying.taken) == 4  # it died holding a call, after answering three

    _, second_token = agent_create(connection=syspro, name="app02")
    agents.append(
        FakeAgent(live_server.url, second_token, syspro_xero["syspro_server"].url).start()
    )
    done, again = execute(waiting.pk)
    assert again is None and done.status == RunStatus.PARTIAL, done.message
    assert statuses(flow) == EXPECTED  # 0 lost
    assert contacts(syspro_xero["xero"]) == 319  # 0 doubled
