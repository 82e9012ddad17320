"""Salesforce Closed Won → KashFlow invoice in real time, through the real path.

Real processes throughout: PostgreSQL and Redis (started by ``.ci/bench``), the Salesforce
and KashFlow sandboxes each in its own process (``manage.py sandbox``; Salesforce's serves
the Pub/Sub API over gRPC), two ``manage.py syncworker`` processes and one
``manage.py salesforce_subscriber``. The pair is the demo's (``demo_load``: the shipped
Salesforce ↔ KashFlow bundle), its invoice flow started by change events only (its
schedule is switched off, so a poll cannot hide a lost event).

1. "Accounts → KashFlow customers" runs once, so the accounts have KashFlow customers.
2. OPPORTUNITIES (default 200) new Opportunities, one line item each, on those accounts;
   their own change events (creations, which the invoice flow's filter drops) are let
   through before the clock starts: a marker change on each topic, made after them, has
   been stored by the subscriber (``settle``).
3. Each is moved to Closed Won through Salesforce's REST API by a person (no Clarity call
   options), spread over SPREAD seconds (default 60). Halfway, the subscriber is killed
   with SIGKILL and started again a second later.
4. Latency per Opportunity: from the moment its PATCH was answered to the moment the
   ledger stored the invoice's success — which it does right after KashFlow answered
   the invoice's creation. The KashFlow sandbox is then read through the KashFlow
   connector: each Opportunity's invoice is found by ``CustomerReference`` (its Id).
   On stderr: when the subscriber was restarted and its first event stored, and where
   the slowest moves' seconds went (``timeline``).

Last line JSON: ``events`` (moves made), ``p50_s``, ``p95_s`` (latency), ``lost``
(Opportunities with no invoice after the wait), ``duplicated`` (Opportunities with more
than one invoice). Run with ``bash .ci/bench realtime_latency [OPPORTUNITIES [SPREAD]]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarity.settings")
os.environ.update(
    DEBUG="False",
    SECRET_KEY=Fernet.generate_key().decode() * 2,
    CLARITY_ENCRYPTION_KEYS=f"bench={Fernet.generate_key().decode()}",
    CLARITY_FAST_PASSWORD_HASHER="1",  # noqa: S106 — a switch, not a password
)


def _ports() -> tuple[int, int]:
    """A Salesforce port whose gRPC neighbour (10 above) is free too, and KashFlow's."""
    from devtools.localservers import free_port

    while True:
        port = free_port()
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", port + 10))
            return port, free_port()


SALESFORCE_PORT, KASHFLOW_PORT = _ports()
os.environ["CLARITY_SANDBOX_PORTS"] = f"salesforce={SALESFORCE_PORT},kashflow={KASHFLOW_PORT}"

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402

from clarity.models import (  # noqa: E402
    Flow,
    RecordStatus,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
    WebhookEvent,
    WebhookStatus,
)
from clarity.services.demo import demo_load  # noqa: E402
from clarity.services.runs import flow_run_enqueue  # noqa: E402
from clarity.sync.schedules import flow_schedule_register  # noqa: E402
from connectors.configs import connector_for  # noqa: E402
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY  # noqa: E402

OPPORTUNITIES = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SPREAD = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
WAIT = 180.0  # seconds allowed after the last move for the last invoice
MANAGE = [sys.executable, str(ROOT / "manage.py")]
SF = f"http://127.0.0.1:{SALESFORCE_PORT}"
V = "/services/data/v62.0"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a process meant to listen on {port} exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.tmp / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                    start_new_session=True)  # fmt: skip
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def person() -> requests.Session:
    """Someone editing Salesforce by hand: no Sforce-Call-Options, so no echo."""
    token = requests.post(
        f"{SF}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": DEMO_CONSUMER_KEY,
              "client_secret": DEMO_CLIENT_SECRET},
        timeout=10,
    ).json()  # fmt: skip
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    return session


def query(session: requests.Session, soql: str) -> list[dict]:
    response = session.get(f"{SF}{V}/query", params={"q": soql}, timeout=30)
    response.raise_for_status()
    return list(response.json()["records"])


def run_once(flow: Flow, timeout: float = 300) -> None:
    run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return
        time.sleep(0.5)
    raise SystemExit(f"{flow.name} did not finish in {timeout:.0f}s")


def new_opportunities(session: requests.Session, accounts: list[str]) -> list[str]:
    """OPPORTUNITIES open Opportunities with one line item each, on invoiceable accounts."""
    [line] = query(session, "SELECT PricebookEntryId, UnitPrice, Opportunity.Pricebook2Id "
                            "FROM OpportunityLineItem LIMIT 1")  # fmt: skip
    pricebook = line["Opportunity"]["Pricebook2Id"]
    ids = []
    for n in range(OPPORTUNITIES):
        response = session.post(f"{SF}{V}/sobjects/Opportunity", json={
            "Name": f"Realtime bench {n}", "AccountId": accounts[n % len(accounts)],
            "StageName": "Prospecting", "CloseDate": time.strftime("%Y-%m-%d"),
            "Pricebook2Id": pricebook, "ExternalID__c": f"RT-{n:04d}",
            "Amount": float(line["UnitPrice"]),
        }, timeout=10)  # fmt: skip
        response.raise_for_status()
        opportunity = response.json()["id"]
        response = session.post(f"{SF}{V}/sobjects/OpportunityLineItem", json={
            "OpportunityId": opportunity, "PricebookEntryId": line["PricebookEntryId"],
            "Quantity": 1, "UnitPrice": line["UnitPrice"],
        }, timeout=10)  # fmt: skip
        response.raise_for_status()
        ids.append(opportunity)
    return ids


def settle(session: requests.Session, opportunities: list[str], timeout: float = 300) -> None:
    """Wait until the subscriber has stored the creations' own change events (their flows'
    filters drop them), so the moves are timed on a stream that has caught up, not behind
    that backlog. A marker change on each topic (an Opportunity's and a line item's
    Description) is published after them all; topics deliver in order, so once both
    markers are stored, everything before them is too."""
    [item] = query(session, "SELECT Id FROM OpportunityLineItem WHERE OpportunityId = "
                            f"'{opportunities[-1]}' LIMIT 1")  # fmt: skip
    markers = [("Opportunity", opportunities[-1]), ("OpportunityLineItem", item["Id"])]
    for sobject, record_id in markers:
        marked = session.patch(f"{SF}{V}/sobjects/{sobject}/{record_id}",
                               json={"Description": "settle marker"}, timeout=10)  # fmt: skip
        marked.raise_for_status()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = all(
            WebhookEvent.objects.filter(
                change__record_ids__contains=[record_id],
                change__changed_fields__contains=["Description"],
            ).exists()
            for _, record_id in markers
        )
        if stored and not WebhookEvent.objects.filter(status=WebhookStatus.RECEIVED).exists():
            return
        time.sleep(0.2)
    raise SystemExit("the subscriber did not catch up on the creations' change events in time")


def timeline(
    flow: Flow, written: dict[str, float], done: dict[str, float], restart: dict[str, float]
) -> None:
    """Where the slowest Opportunities' seconds went, from timestamps each part keeps: the
    PATCH answered, Salesforce's commitTimestamp, the event stored, its run queued, started
    and finished, the invoice's success in the ledger."""
    events: dict[str, WebhookEvent] = {}
    for event in WebhookEvent.objects.filter(category="Opportunity", event_type="UPDATE"):
        values = event.change.get("values") or {}
        if values.get("StageName") == "Closed Won":
            for record_id in event.change.get("record_ids") or ():
                events.setdefault(record_id, event)
    run_ids = {i for e in events.values() for i in e.run_ids}
    runs = {r.pk: r for r in SyncRun.objects.filter(flow=flow, pk__in=run_ids)}
    killed, started = restart.get("killed", 0.0), restart.get("started", 0.0)
    after = [e.received_at.timestamp() for e in events.values()
             if e.received_at.timestamp() > started]  # fmt: skip
    first = min(after) - started if after else float("nan")
    log(
        f"   subscriber killed {killed:.3f}, started {started:.3f}; the first event stored "
        f"{first:.2f}s after its start"
    )
    log(
        "   slowest: latency | commit-write | stored-commit | started-queued | run | "
        "success-finished (s); run id, records read"
    )
    slowest = sorted(done, key=lambda o: done[o] - written[o], reverse=True)[:12]
    for opportunity in slowest:
        event = events.get(opportunity)
        if event is None:
            log(f"   {done[opportunity] - written[opportunity]:6.2f} no event stored")
            continue
        commit = event.payload["ChangeEventHeader"]["commitTimestamp"] / 1000
        stored = event.received_at.timestamp()
        run = runs.get(event.run_ids[0]) if event.run_ids else None
        queued = run.created_at.timestamp() if run else stored
        begun = run.started_at.timestamp() if run and run.started_at else queued
        ended = run.finished_at.timestamp() if run and run.finished_at else begun
        at = written[opportunity]
        log(
            f"   {done[opportunity] - at:6.2f} | {commit - at:6.2f}"
            f" | {stored - commit:6.2f} | {begun - queued:6.2f} | {ended - begun:6.2f} | "
            f"{done[opportunity] - ended:6.2f}; run {run.pk if run else '-'}, "
            f"{run.total_count if run else 0} read, queued {queued - stored:+.2f}s from stored"
        )


def main() -> None:
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix="clarity-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            result = bench(stack)
        finally:
            stack.stop()
            if os.environ.get("BENCH_LOGS"):
                for path in sorted(Path(tmp).glob("*.log")):
                    log(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
    print(json.dumps(result))


def bench(stack: Stack) -> dict:
    for system, port in (("salesforce", SALESFORCE_PORT), ("kashflow", KASHFLOW_PORT)):
        proc = stack.start(system, [*MANAGE, "sandbox", "--skip-checks", "--only", system,
                                    "--ports", f"{system}={port}"])  # fmt: skip
        wait_port(port, proc)
    wait_port(SALESFORCE_PORT + 10, stack.procs["salesforce"])
    demo_load()
    flows = {flow.name: flow for flow in Flow.objects.filter(pair__name="Salesforce ↔ KashFlow")}
    invoices = flows["Won opportunities → KashFlow invoices"]
    # Events alone start the invoice flow, and nothing else runs: no schedule, no adaptive
    # poll (which would read the moves too, or keep the workers from the events).
    Flow.objects.filter(pair=invoices.pair).update(trigger_schedule=False, poll_adaptive=False)
    Flow.objects.filter(pair=invoices.pair).exclude(pk=invoices.pk).update(trigger_webhook=False)
    Flow.objects.exclude(pair=invoices.pair).update(enabled=False)  # SYSPRO ↔ Xero: not here
    for flow in Flow.objects.all():
        flow_schedule_register(flow=flow)  # cancels the jobs scheduled when they were saved
    for n in range(2):
        stack.start(f"worker-{n}", [*MANAGE, "syncworker", "--skip-checks", "--with-scheduler"])
    subscriber = [*MANAGE, "salesforce_subscriber", "--skip-checks", "--refresh", "5"]
    stack.start("subscriber", subscriber)

    log("1. Accounts → KashFlow customers, once")
    customers = flows["Accounts → KashFlow customers"]
    run_once(customers)
    accounts = list(
        SyncRecord.objects.filter(flow=customers, status=RecordStatus.SUCCEEDED)
        .values_list("source_id", flat=True)
        .order_by("source_id")
    )
    session = person()
    log(f"2. {OPPORTUNITIES} new Opportunities on {len(accounts)} accounts")
    opportunities = new_opportunities(session, accounts)

    settle(session, opportunities)
    log(f"3. moved to Closed Won over {SPREAD:.0f}s; the subscriber SIGKILLed halfway")
    written: dict[str, float] = {}
    restart: dict[str, float] = {}
    gap = SPREAD / max(OPPORTUNITIES, 1)
    start = time.monotonic()
    for n, opportunity in enumerate(opportunities):
        if n == OPPORTUNITIES // 2:
            restart["killed"] = time.time()
            stack.kill("subscriber")
            time.sleep(1)
            restart["started"] = time.time()
            stack.start("subscriber", subscriber)
        time.sleep(max(0.0, start + n * gap - time.monotonic()))
        response = session.patch(f"{SF}{V}/sobjects/Opportunity/{opportunity}",
                                 json={"StageName": "Closed Won"}, timeout=10)  # fmt: skip
        response.raise_for_status()
        written[opportunity] = time.time()

    log("4. waiting for the invoices")
    deadline = time.monotonic() + WAIT
    done: dict[str, float] = {}
    while time.monotonic() < deadline and len(done) < len(written):
        for source_id, at in SyncRecord.objects.filter(
            flow=invoices, source_id__in=written, status=RecordStatus.SUCCEEDED
        ).values_list("source_id", "updated_at"):
            done.setdefault(source_id, at.timestamp())
        time.sleep(0.5)
    latencies = sorted(max(done[o] - written[o], 0.0) for o in done)
    kashflow = connector_for(invoices.target_connection)
    held = Counter(
        str(record.get("CustomerReference") or "")
        for page in kashflow.read_all("invoices")
        for record in page.records
    )
    lost = sum(1 for o in opportunities if held[o] == 0)
    duplicated = sum(1 for o in opportunities if held[o] > 1)
    runs = SyncRun.objects.filter(flow=invoices).count()
    timeline(invoices, written, done, restart)
    log(f"   {len(done)} invoiced in the ledger, {runs} runs; KashFlow: {lost} missing, "
        f"{duplicated} doubled")  # fmt: skip
    return {
        "events": len(written),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 3) if latencies else None,
        "lost": lost,
        "duplicated": duplicated,
    }


if __name__ == "__main__":
    main()
