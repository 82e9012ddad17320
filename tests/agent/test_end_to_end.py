"""The issue's proof, end to end: the shipped SYSPRO ↔ Xero use cases run through real RQ
workers, Redis and PostgreSQL, with SYSPRO reached only by ``clarity-agent`` processes.

The SYSPRO sandbox accepts a connection only from an agent's process (its gate finds the
process owning each client socket) and logs any other; the SYSPRO connection's base URL
names a host that does not resolve. So every call the pipeline makes to SYSPRO goes
server → Redis relay → agent → sandbox, and the sandbox's own log shows the server made
no connection of its own.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest

from clarity.models import RecordStatus, SyncRecord
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.sandbox.core import SandboxServer
from tests.agent.conftest import SYSPRO_LOGON, UNREACHABLE_SYSPRO, agent_settings
from tests.clarity.conftest import connect_xero
from tests.usecases.conftest import UseCase, template

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CUSTOMERS = "Customers → Contacts"
ORDERS = "Sales orders → Invoices"
PAYMENTS = "Payments → AR payments"
RELAY_TIMEOUT_S = 3  # a killed agent's calls time out on the server this soon


@pytest.fixture
def through_agent(syspro_sandbox, sandbox, agent_process, relay_connection, live_server):
    """The SYSPRO ↔ Xero template against a gated SYSPRO sandbox reached through agents."""
    from clarity.services.bundles import bundle_import

    syspro_server = syspro_sandbox()
    xero_server = sandbox("xero")
    syspro = Connection.objects.create(
        name="SYSPRO",
        system="syspro",
        base_url=UNREACHABLE_SYSPRO,
        settings={
            "company_id": "EDU1",
            "operator": "ADMIN",
            "through_agent": True,
            "credentials_held_by": "agent",
            "timeout": RELAY_TIMEOUT_S,
        },
    )
    xero = Connection.objects.create(
        name="Xero",
        system="xero",
        base_url=xero_server.url,
        credentials={"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
    )
    connect_xero(xero)
    pair = bundle_import(
        bundle=template(), connections={"a": syspro, "b": xero}, pair_name="SYSPRO ↔ Xero"
    )
    usecase = UseCase(pair, syspro, xero, {"syspro": syspro_server, "xero": xero_server})
    gate = syspro_server.gate

    def prepare_agent(syspro_url: str = syspro_server.url) -> dict:
        """A new agent of the connection (in the admin), and its configuration file's content."""
        _, token = relay_connection(syspro)
        return agent_settings(live_server.url, token, [syspro_url], poll_wait_s=2)

    def launch(settings: dict, name: str):
        process = agent_process(settings, name=name)
        gate.only.add(process.pid)
        process.wait_for("relaying to")
        return process

    usecase.prepare_agent = prepare_agent
    usecase.launch = launch
    usecase.start_agent = lambda name="agent": launch(prepare_agent(), name)
    usecase.gate = gate
    usecase.syspro_server = syspro_server
    return usecase


def pay_in_xero(usecase, count: int) -> list[str]:
    """Customers pay ``count`` authorised invoices in Xero; their payment ids."""
    orders = [
        r
        for r in SyncRecord.objects.filter(flow=usecase.flow(ORDERS), status=RecordStatus.SUCCEEDED)
        if r.source_payload["OrderStatus"] in ("8", "9")
    ][:count]
    xero = connector_for(usecase.xero)
    today = dt.date.today().isoformat()
    payments = []
    for order in orders:
        number = f"SO-{order.business_key}"
        [found] = usecase.xero_get("/Invoices", InvoiceNumbers=number)["Invoices"]
        payments.append(
            {
                "Invoice": {"InvoiceNumber": number},
                "Account": {"Code": "090"},
                "Date": today,
                "Amount": found["AmountDue"],
                "Reference": f"BACS {order.business_key}",
            }
        )
    outcomes = xero.write_batch("Payments", payments)
    assert all(outcome.ok for outcome in outcomes), outcomes
    return [outcome.target_id for outcome in outcomes]


def posted_payments(usecase) -> Counter:
    """How many SYSPRO AR payment journals carry each reference (the Xero payment id)."""
    rows = usecase.syspro_server.app.tables["ArCshJnlDet"]
    journals = {(r["Reference"], r["TrnYear"], r["TrnMonth"], r["Journal"]) for r in rows}
    return Counter(reference for reference, *_ in journals)


def assert_only_agents_reached_syspro(usecase, pids: set[int]) -> None:
    assert usecase.gate.refused == []  # no connection from the server, its workers or tests
    assert usecase.gate.accepted and set(usecase.gate.accepted) <= pids


def test_syspro_to_xero_runs_through_the_agent_alone(through_agent):
    usecase = through_agent
    agent = usecase.start_agent()

    usecase.run(CUSTOMERS)
    counts = usecase.statuses(CUSTOMERS)
    assert sum(counts.values()) == 320 and counts[RecordStatus.FAILED] == 1  # as directly
    usecase.run(ORDERS)
    assert SyncRecord.objects.filter(flow=usecase.flow(ORDERS)).count() == 260
    payment_ids = pay_in_xero(usecase, 3)
    usecase.run(PAYMENTS)
    records = SyncRecord.objects.filter(flow=usecase.flow(PAYMENTS), source_id__in=payment_ids)
    assert {r.status for r in records} == {RecordStatus.SUCCEEDED}
    assert [posted_payments(usecase)[i] for i in payment_ids] == [1, 1, 1]

    assert_only_agents_reached_syspro(usecase, {agent.pid})
    # The operator's password went to SYSPRO from the agent alone; the server held none.
    logons = [q for path, q in usecase.syspro_server.seen if path.endswith("/Logon")]
    assert logons and all(q["OperatorPassword"] == "demo" for q in logons)
    # Its log (at DEBUG) holds neither the token, nor a password, nor a session id.
    log = agent.output()
    assert "logged on to SYSPRO" in log
    assert agent.token not in log and SYSPRO_LOGON["operator_password"] not in log
    sessions = {q["UserId"].strip() for _, q in usecase.syspro_server.seen if q.get("UserId")}
    assert sessions and not any(session in log for session in sessions)


def kill_when_syspro_posts(usecase, victims: dict[str, object], then=None) -> list:
    """SIGKILL the agent that relays the run's first posting, the moment SYSPRO receives
    it: SYSPRO posts it, but the agent dies before it can answer (the write's outcome is
    unknown to the server). ``victims`` maps the sandbox address each agent is configured
    with (host:port) to its process; ``then`` runs in a thread afterwards."""
    killed: list = []

    def hook(request) -> None:
        if request.path.endswith("/Transaction/Post") and not killed:
            victim = victims[request.header("Host")]
            victim.kill()
            killed.append(victim)
            if then is not None:
                threading.Thread(target=then, daemon=True).start()

    usecase.syspro_server.hooks.append(hook)
    return killed


def address(url: str) -> str:
    return url.split("://", 1)[1]


def assert_each_payment_once(usecase, payment_ids: list[str]) -> None:
    records = SyncRecord.objects.filter(flow=usecase.flow(PAYMENTS), source_id__in=payment_ids)
    assert records.count() == len(payment_ids)  # nothing lost
    assert {r.status for r in records} == {RecordStatus.SUCCEEDED}, [r.message for r in records]
    posted = posted_payments(usecase)
    assert [posted[i] for i in payment_ids] == [1] * len(payment_ids)  # nothing doubled


def test_an_agent_killed_mid_batch_and_restarted_loses_and_doubles_nothing(through_agent):
    usecase = through_agent
    first = usecase.start_agent("first")
    usecase.run(CUSTOMERS)
    usecase.run(ORDERS)
    payment_ids = pay_in_xero(usecase, 20)
    settings = usecase.prepare_agent()
    restarted = []

    def restart() -> None:
        time.sleep(RELAY_TIMEOUT_S)  # down for a while: the run waits, "agent offline"
        restarted.append(usecase.launch(settings, "restarted"))

    killed = kill_when_syspro_posts(
        usecase, {address(usecase.syspro_server.url): first}, then=restart
    )
    usecase.run(PAYMENTS)
    assert killed == [first] and not first.running() and restarted
    assert_each_payment_once(usecase, payment_ids)
    assert_only_agents_reached_syspro(usecase, {first.pid, restarted[0].pid})


def test_two_agents_one_killed_the_other_carries_on(through_agent):
    usecase = through_agent
    # A second port onto the same SYSPRO, gated alike: the sandbox tells the two agents'
    # calls apart by the address each is configured with.
    mirror = SandboxServer(usecase.syspro_server.app)
    mirror.httpd.verify_request = usecase.gate
    mirror.start()
    try:
        first = usecase.start_agent("first")
        second = usecase.launch(usecase.prepare_agent(mirror.url), "second")
        usecase.run(CUSTOMERS)
        usecase.run(ORDERS)
        payment_ids = pay_in_xero(usecase, 20)
        agents = {address(usecase.syspro_server.url): first, address(mirror.url): second}
        killed = kill_when_syspro_posts(usecase, agents)
        usecase.run(PAYMENTS)  # finishes with the other agent alone
    finally:
        mirror.httpd.shutdown()
        mirror.httpd.server_close()
    [victim] = killed
    survivor = second if victim is first else first
    assert not victim.running() and survivor.running()
    assert_each_payment_once(usecase, payment_ids)
    assert_only_agents_reached_syspro(usecase, {first.pid, second.pid})
