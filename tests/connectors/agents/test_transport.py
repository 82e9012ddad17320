"""A SYSPRO connection "through an agent": the connector's e.net calls go through the relay
(the live server's endpoints, a fake agent written in conftest) to a sandbox only the agent
knows, and the connector's retry and unknown-outcome rules keep their meaning."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from connectors.agents.relay import Relay
from connectors.agents.services import relay
from connectors.agents.transport import AGENT_OFFLINE, AGENT_REFUSED, AgentOfflineError
from connectors.base import WriteStatus
from connectors.configs import connector_for
from connectors.errors import ConnectorError, ErrorCode, ErrorKind, RetryLaterError
from connectors.http import RetryPolicy
from connectors.models import Connection
from connectors.sandbox.syspro.app import SysproSandbox
from tests.connectors.agents.conftest import FakeAgent

pytestmark = pytest.mark.django_db(transaction=True)

WRITES = ("Setup/", "Transaction/")


def is_write(request: dict) -> bool:
    return request["path"].split("/Rest/", 1)[1].startswith(WRITES)


@pytest.fixture
def syspro(start_sandbox):
    return start_sandbox("syspro")


def test_the_agent_holds_the_credentials_and_the_server_never_reaches_syspro(
    live_server, syspro, agent_connection, new_agent, fake_agents
):
    connection = agent_connection()  # no password stored on the server at all
    _, token = new_agent(connection)
    agent = FakeAgent(live_server.url, token, syspro.url)
    fake_agents.append(agent.start())
    connector = connector_for(connection)

    check = connector.test_connection()
    assert check.reachable and check.connected_as, check.message
    assert connector.read_one("ArCustomer", "0000001")
    [outcome] = connector.write_batch("ArCustomer", [{"Customer": "0000007", "Telephone": "1"}])
    assert outcome.status is WriteStatus.UPDATED

    assert agent.taken and all(r["session"] == "agent" for r in agent.taken)
    assert not any("UserId" in r["query"] for r in agent.taken)  # the session stays inside
    assert not any(r["path"].endswith(("/Logon", "/Logoff")) for r in agent.taken)
    connection.refresh_from_db()
    assert connection.access_token == ""  # the server never held a SYSPRO session
    app = syspro.app
    assert isinstance(app, SysproSandbox)
    assert app.stats["requests"] == agent.sent_to_syspro  # not one connection of the server's


def test_server_held_credentials_are_relayed_as_sent(
    live_server, syspro, agent_connection, new_agent, fake_agents
):
    connection = agent_connection(credentials_held_by="server")
    connection.credentials = {"operator_password": "demo", "company_password": "demo"}
    connection.save()
    _, token = new_agent(connection)
    agent = FakeAgent(live_server.url, token, syspro.url)
    fake_agents.append(agent.start())

    assert connector_for(connection).test_connection().connected_as
    assert agent.taken[0]["path"].endswith("/Logon") and agent.taken[0]["session"] == "server"
    assert agent.session_id == ""  # the agent logged on for nobody


def test_no_agent_online_makes_calls_wait_without_failing(agent_connection, new_agent):
    connection = agent_connection()
    with pytest.raises(AgentOfflineError) as never:
        connector_for(connection).read_one("ArCustomer", "0000001")
    assert isinstance(never.value, RetryLaterError)
    assert never.value.kind is ErrorKind.TRANSIENT and never.value.code == AGENT_OFFLINE
    assert "has connected yet" in never.value.message

    check = connector_for(connection).test_connection()
    assert not check.reachable and "has connected yet" in check.message

    agent, _ = new_agent(connection)
    went_quiet = time.time() - 300
    Relay(relay().redis, clock=lambda: went_quiet).heartbeat(str(connection.pk), str(agent.pk))
    with pytest.raises(AgentOfflineError) as offline:
        connector_for(connection).read_one("ArCustomer", "0000001")
    since = time.strftime("%H:%M", time.localtime(went_quiet))
    assert f"offline since {since}" in offline.value.message
    assert not relay().redis.llen(f"clarity:agent:conn:{connection.pk}:queue")  # nothing queued


def test_a_write_the_agent_does_not_answer_is_unknown_and_never_sent_again(
    live_server, syspro, agent_connection, new_agent, fake_agents
):
    connection = agent_connection()
    _, token = new_agent(connection)
    agent = FakeAgent(live_server.url, token, syspro.url, hold=is_write)
    fake_agents.append(agent.start())
    connector = connector_for(connection)
    connector.http.retry = RetryPolicy(backoff_base=0.01, backoff_max=0.05)

    with pytest.raises(ConnectorError) as unknown:
        connector.write_batch("ArCustomer", [{"Customer": "0000007", "Telephone": "2"}])
    assert unknown.value.outcome_unknown
    assert unknown.value.code == ErrorCode.OUTCOME_UNKNOWN
    assert len([r for r in agent.taken if is_write(r)]) == 1  # no blind resend


def test_a_read_the_agent_does_not_answer_is_sent_again(
    live_server, syspro, agent_connection, new_agent, fake_agents
):
    connection = agent_connection()
    _, token = new_agent(connection)
    held: list[str] = []

    def hold_first_read(request: dict) -> bool:
        if not held and "Query/" in request["path"]:
            held.append(request["id"])
            return True
        return False

    agent = FakeAgent(live_server.url, token, syspro.url, hold=hold_first_read)
    fake_agents.append(agent.start())
    connector = connector_for(connection)
    connector.http.retry = RetryPolicy(backoff_base=0.01, backoff_max=0.05)

    assert connector.read_one("ArCustomer", "0000001")
    assert held and any(r["id"] != held[0] and "Query/" in r["path"] for r in agent.taken)


def test_a_call_no_agent_took_was_not_sent_and_the_run_waits(
    live_server, agent_connection, new_agent
):
    connection = agent_connection()
    agent, _ = new_agent(connection)
    relay().heartbeat(str(connection.pk), str(agent.pk))  # online, but takes nothing
    connector = connector_for(connection)
    with pytest.raises(AgentOfflineError) as unsent:
        connector.write_batch("ArCustomer", [{"Customer": "0000007", "Telephone": "3"}])
    assert not unsent.value.outcome_unknown  # safe to send again: it never left the queue
    assert isinstance(unsent.value, RetryLaterError)
    assert "No on-premises agent took the call" in unsent.value.message


def test_a_call_the_agent_refuses_is_a_setup_problem(
    live_server, syspro, agent_connection, new_agent, fake_agents
):
    connection = agent_connection()
    _, token = new_agent(connection)
    fake_agents.append(FakeAgent(live_server.url, token, syspro.url, refuse=lambda r: True).start())
    with pytest.raises(ConnectorError) as refused:
        connector_for(connection).read_one("ArCustomer", "0000001")
    assert refused.value.kind is ErrorKind.CONFIG and refused.value.code == AGENT_REFUSED
    assert "path not allowed" in refused.value.message


def test_with_two_agents_one_stopped_the_other_carries_on(
    live_server, syspro, agent_connection, new_agent, fake_agents
):
    connection = agent_connection()
    first = FakeAgent(live_server.url, new_agent(connection)[1], syspro.url).start()
    second = FakeAgent(live_server.url, new_agent(connection)[1], syspro.url).start()
    fake_agents.extend([first, second])
    connector = connector_for(connection)
    for _ in range(4):
        assert connector.read_one("ArCustomer", "0000001")
    first.stop()
    served_before = len(second.taken)
    for _ in range(4):
        assert connector.read_one("ArCustomer", "0000001")
    assert len(second.taken) >= served_before + 4


@pytest.mark.parametrize(
    ("system", "values", "problem"),
    [
        ("xero", {"through_agent": True}, "Only SYSPRO"),
        ("syspro", {"through_agent": True, "credentials_held_by": "agnet"}, "credentials_held_by"),
        ("syspro", {"through_agent": "yes"}, "true or false"),
    ],
)
def test_agent_settings_a_connection_cannot_use_are_refused(system, values, problem):
    connection = Connection(system=system, name="c", base_url="https://a.example", settings=values)
    with pytest.raises(ValidationError) as refused:
        connection.full_clean()
    assert problem in str(refused.value.message_dict["settings"])
