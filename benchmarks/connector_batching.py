"""Connector batching under real rate limits: calls per record, 429s, share of the ceiling.

Pushes 10,000 contacts into the Xero sandbox and 10,000 accounts into the
Salesforce sandbox through 2 worker processes (``multiprocessing``, spawn),
each pushing its half with ``connector.write_batch`` in the largest batch the
connector allows (Xero ``Contacts``: 50; Salesforce sObject Collections: 200)
and every call taking a permit from the one ``RateLimiter`` in Redis
(``REDIS_URL``) that both processes share.

Limits, "real limits scaled 10x" — chosen so the ceiling is measurable:

* **Xero**: the real per-tenant limits (60 calls a minute, 5,000 a day, 5 in
  flight) with every window time-scaled by 0.1, in the sandbox (``time_scale``)
  and in the limiter (``rate_limit_time_scale``) alike: a "minute" lasts 6 s,
  i.e. 600 calls a real minute. The other reading — 600 calls per 60 s window
  and 50 in flight — would be unmeasurable: 10,000 contacts at 50 a call are
  200 calls, which fit in one 600-call window, so no call would ever wait for
  the limit. With 60 per 6 s the 200 calls span four windows (3⅓ windows'
  worth), so the job can only finish fast if the limiter releases each call the
  moment the sliding window allows it. Smaller batches would make more calls
  but break the calls-per-record target, so the batch stays at 50.
* **Salesforce**: the org's real allowance — 115,000 calls per rolling 24 h
  and 25 in flight — in the sandbox and in a limiter built as
  ``connectors.salesforce.salesforce_connector`` builds it. 10,000 accounts are 50
  Collections calls, which no scaling of a daily allowance makes binding, so
  Salesforce reports calls per record and 429s but no ceiling share.

Auth is done once, in the parent, as the product does it: the Xero "Connect
to Xero" consent (authorization URL + ``exchange_code`` into an
``InMemoryTokenStore``) and a Salesforce client-credentials login (demo
connected app). The tokens are handed to each worker, which keeps them in its
own ``InMemoryTokenStore``. Xero access tokens last 30 minutes and the connector
refreshes 2 minutes before expiry; the parent checks the tokens outlive the
whole run with that margin, and even if a worker did refresh, the sandbox (like
Xero) honours a rotated refresh token for 30 minutes, so each process's own
refresh would still succeed. Workers report their refreshes
(``xero_token_refreshes``; expected 0).

Figures, all counted by the sandboxes themselves (``/_sandbox/stats`` taken
just before and just after each push, so sign-in calls are outside):

* ``*_calls_per_record`` = requests the sandbox received during the push ÷
  records pushed (targets: Xero <= 1/50, Salesforce <= 1/200). Any retry,
  429 or token refresh in the push would count here too.
* ``http_429`` = 429 answers both sandboxes gave during the pushes (target 0).
* ``xero_ceiling_share`` = ideal span ÷ actual span, where the span is the
  time between the first and the last API call's arrival at the Xero sandbox
  (recorded by wrapping the sandbox app's ``handle`` in this process) and the
  ideal span is the shortest a sliding window of L calls per W seconds allows
  for N calls: call k (0-based) can arrive no earlier than ``floor(k / L) * W``
  after the first, so ``ideal = floor((N - 1) / L) * W`` (N=200, L=60, W=6 s:
  18 s). 1.0 means every call went the moment the window let it (target
  >= 0.9). The step formula ``N / (L * (floor(span / W) + 1))`` is printed too
  (``xero_window_fill``) but is not the target: for N=200 its last window can
  only ever be a third full, so even a perfect client scores 200/240 = 0.83.

Finally the sandboxes must hold exactly 10,000 new contacts and 10,000 new
accounts: checked in their ``created`` counters, in their in-memory tables,
and in the outcomes ``write_batch`` returned (all created, none failed).

Run with ``bash .ci/bench connector_batching [RECORDS]`` (starts Redis, sets
``REDIS_URL``); ``BENCH_THREADS=n`` gives each worker n concurrent
``write_batch`` callers (default 1: a worker is one RQ-style process). The two
systems are pushed one after the other, so neither sandbox's work (both serve
from threads of this process) slows the other's answers. The last line of
output is one JSON object.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from redis import Redis  # noqa: E402

from connectors.base import (  # noqa: E402
    ConnectionConfig,
    InMemoryTokenStore,
    Tokens,
    WriteStatus,
)
from connectors.salesforce import SalesforceConnector, salesforce_connector  # noqa: E402
from connectors.sandbox.control import SandboxControl  # noqa: E402
from connectors.sandbox.core import Request, Response, SandboxServer  # noqa: E402
from connectors.sandbox.registry import create_app  # noqa: E402
from connectors.sandbox.salesforce.auth import DEMO_CLIENT_SECRET, DEMO_CONSUMER_KEY  # noqa: E402
from connectors.xero import (  # noqa: E402
    authorization_url,
    exchange_code,
    xero_config,
    xero_connector,
)
from connectors.xero.connector import REFRESH_MARGIN  # noqa: E402

RECORDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
WORKERS = 2
THREADS = int(os.environ.get("BENCH_THREADS", "1"))  # write_batch callers per worker process
TIME_SCALE = 0.1  # a Xero "minute" lasts 6 s: 600 calls a real minute
XERO_PER_MINUTE, XERO_PER_DAY, XERO_CONCURRENT = 60, 5000, 5  # Xero's real per-tenant limits
SF_DAILY, SF_CONCURRENT = 115_000, 25  # the sandbox org's allowance and in-flight cap
WINDOW = 60 * TIME_SCALE
XERO_API = "/api.xro/2.0/"
XERO_CLIENT = {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
CALLBACK = "http://localhost:8000/xero/callback"
RUN_BUDGET = 600.0  # seconds the tokens must still be good for, beyond the refresh margin


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- what each worker process runs ----------------------------------------------


def push(
    system: str,
    config: ConnectionConfig,
    tokens: Tokens,
    records: list[dict[str, Any]],
    redis_url: str,
    results: Any,
) -> None:
    """One worker: push ``records`` in the largest batches, ``THREADS`` calls at a time."""
    redis = Redis.from_url(redis_url)
    store = InMemoryTokenStore(tokens)
    make: Callable[[], Any]
    if system == "xero":
        make = lambda: xero_connector(config, store, redis=redis)  # noqa: E731
        entity = "Contacts"
    else:
        make = lambda: salesforce_connector(config, store, redis=redis)  # noqa: E731
        entity = "Account"
    size = make().max_batch_size(entity)
    batches = [records[i : i + size] for i in range(0, len(records), size)]
    counts = {"created": 0, "updated": 0, "failed": 0, "batches": len(batches), "size": size}
    failures: list[str] = []

    def run(chunk: Sequence[dict[str, Any]], connector: Any) -> None:
        for outcome in connector.write_batch(entity, chunk):
            counts[str(outcome.status)] += 1
            if outcome.status is WriteStatus.FAILED and len(failures) < 5:
                failures.append(f"{outcome.code}: {outcome.message}")

    started = time.time()
    connectors = [make() for _ in range(THREADS)]  # one HTTP session per thread
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(run, chunk, connectors[n % THREADS]) for n, chunk in enumerate(batches)
        ]
        for future in futures:
            future.result()
    results.put(
        {
            "system": system,
            **counts,
            "failures": failures,
            "seconds": time.time() - started,
            "token_refreshes": store.saves,
        }
    )


def run_workers(
    system: str, config: ConnectionConfig, tokens: Tokens, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    share = math.ceil(len(records) / WORKERS)
    procs = [
        context.Process(
            target=push,
            args=(
                system,
                config,
                tokens,
                records[n * share : (n + 1) * share],
                os.environ["REDIS_URL"],
                results,
            ),
            name=f"{system}-worker-{n}",
        )
        for n in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    got = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        if proc.exitcode != 0:
            raise SystemExit(f"{proc.name} exited with {proc.exitcode}")
    return got


# -- the parent: sandboxes, sign-in, figures -------------------------------------


class ArrivalLog:
    """Times at which the sandbox received each API call (the sandbox app, wrapped)."""

    def __init__(self, server: SandboxServer, prefix: str) -> None:
        self.times: list[float] = []
        self.recording = False
        app, handle = server.app, server.app.handle

        def timed(request: Request) -> Response:
            if self.recording and request.path.startswith(prefix):
                self.times.append(time.monotonic())
            return handle(request)

        app.handle = timed  # type: ignore[method-assign]


def xero_sign_in(config: ConnectionConfig) -> Tokens:
    """Press "Connect to Xero" once: authorize redirect, then exchange the code."""
    store = InMemoryTokenStore()
    url, state = authorization_url(config)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    consent.raise_for_status()
    exchange_code(config, store, callback_url=consent.headers["Location"], expected_state=state)
    tokens = store.load()
    assert tokens is not None and tokens.expires_at is not None
    assert tokens.expires_at - time.time() > REFRESH_MARGIN + RUN_BUDGET, "token too short"
    return tokens


def salesforce_sign_in(config: ConnectionConfig) -> Tokens:
    """One client-credentials login (the sandbox's demo connected app)."""
    store = InMemoryTokenStore()
    connector = SalesforceConnector(config, store)
    check = connector.test_connection()  # logs in, then one call to prove the session
    assert check.reachable, check.message
    tokens = store.load()
    assert tokens is not None
    return tokens


def delta(after: dict[str, Any], before: dict[str, Any], *keys: str) -> int:
    a, b = after, before
    for key in keys[:-1]:
        a, b = a.get(key, {}), b.get(key, {})
    return int(a.get(keys[-1], 0)) - int(b.get(keys[-1], 0))


def bench_xero(run: str) -> dict[str, Any]:
    tenant = {"tenantId": str(uuid.uuid4()), "tenantName": f"Bench {run}"}
    app = create_app("xero", {"time_scale": TIME_SCALE, "tenants": [tenant],
                              "demo": {"contacts": 300, "items": 0, "invoices": 0}})  # fmt: skip
    with SandboxServer(app) as server:
        arrivals = ArrivalLog(server, XERO_API)
        config = xero_config(
            connection_id=f"bench-xero-{run}",
            redirect_uri=CALLBACK,
            sandbox_url=server.url,
            settings={
                "rate_limits": {
                    "per_minute": XERO_PER_MINUTE,
                    "per_day": XERO_PER_DAY,
                    "concurrent": XERO_CONCURRENT,
                },
                "rate_limit_time_scale": TIME_SCALE,
                "rate_limit_max_wait": WINDOW + 1,  # a full window's wait is normal here
            },
            **XERO_CLIENT,
        )
        tokens = xero_sign_in(config)
        limits = SandboxControl(server.url).limits()
        log(f"Xero sandbox limits {limits}, windows x{TIME_SCALE} ({WINDOW:g} s 'minute')")
        org = app.orgs[tenant["tenantId"]]
        held_before = len(org.records["Contacts"])
        records = [
            {
                "Name": f"Bench {run} Contact {i:05d}",
                "ContactNumber": f"BN-{run}-{i:05d}",
                "EmailAddress": f"contact{i:05d}@bench.example",
                "FirstName": "Bench",
                "LastName": f"Contact {i:05d}",
            }
            for i in range(RECORDS)
        ]
        control = SandboxControl(server.url)
        before = control.stats()
        arrivals.recording = True
        started = time.monotonic()
        results = run_workers("xero", config, tokens, records)
        seconds = time.monotonic() - started
        arrivals.recording = False
        after = control.stats()
        held = len(org.records["Contacts"]) - held_before
    calls = delta(after, before, "requests")
    times = sorted(arrivals.times)
    span = times[-1] - times[0]
    ideal = math.floor((len(times) - 1) / XERO_PER_MINUTE) * WINDOW
    return {
        "calls": calls,
        "api_calls_seen": len(times),
        "http_429": delta(after, before, "rate_limited"),
        "created_counter": delta(after, before, "created", "Contacts"),
        "held": held,
        "outcomes": summarise(results),
        "seconds": seconds,
        "span": span,
        "ideal": ideal,
        "share": ideal / span if span > 0 else 0.0,
        "window_fill": len(times) / (XERO_PER_MINUTE * (math.floor(span / WINDOW) + 1)),
        "refreshes": sum(r["token_refreshes"] for r in results),
        "batch": results[0]["size"],
    }


def bench_salesforce(run: str) -> dict[str, Any]:
    app = create_app("salesforce", {"limits": {"daily": SF_DAILY, "concurrent": SF_CONCURRENT}})
    with SandboxServer(app) as server:
        config = ConnectionConfig(
            system="salesforce",
            connection_id=f"bench-salesforce-{run}",
            base_url=server.url,
            settings={
                "client_id": DEMO_CONSUMER_KEY,
                "auth_flow": "client_credentials",
                "rate_limits": {"per_day": SF_DAILY, "concurrent": SF_CONCURRENT},
                # A first load of new records: the pre-read that spares unchanged
                # records an update would find nothing and cost one query per batch.
                "skip_unchanged": False,
            },
            secrets={"client_secret": DEMO_CLIENT_SECRET},
        )
        tokens = salesforce_sign_in(config)
        held_before = len(app.data["Account"])
        records = [
            {
                "Name": f"Bench {run} Account {i:05d}",
                "ExternalID__c": f"BN-{run}-{i:05d}",
                "AccountNumber": f"BN{i:05d}",
                "Type": "Customer",
                "BillingCity": "Leeds",
            }
            for i in range(RECORDS)
        ]
        control = SandboxControl(server.url)
        before = control.stats()
        started = time.monotonic()
        results = run_workers("salesforce", config, tokens, records)
        seconds = time.monotonic() - started
        after = control.stats()
        held = len(app.data["Account"]) - held_before
    return {
        "calls": delta(after, before, "requests"),
        "http_429": delta(after, before, "rate_limited"),
        "created_counter": delta(after, before, "created", "Account"),
        "held": held,
        "outcomes": summarise(results),
        "seconds": seconds,
        "batch": results[0]["size"],
    }


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    total = {k: sum(r[k] for r in results) for k in ("created", "updated", "failed")}
    failures = [f for r in results for f in r["failures"]]
    if failures:
        log(f"  failures, e.g. {failures[:3]}")
    return total


def main() -> None:
    if "REDIS_URL" not in os.environ:
        raise SystemExit("REDIS_URL is not set: run with `bash .ci/bench connector_batching`")
    run = uuid.uuid4().hex[:8]
    log(f"{RECORDS} records per system, {WORKERS} worker processes x {THREADS} thread(s)")
    xero = bench_xero(run)
    log(
        f"Xero: {xero['calls']} calls for {RECORDS} contacts (batch {xero['batch']}) in "
        f"{xero['seconds']:.1f}s; arrivals span {xero['span']:.2f}s vs ideal {xero['ideal']:.1f}s "
        f"-> ceiling share {xero['share']:.3f}; 429s {xero['http_429']}; "
        f"created {xero['created_counter']}, held +{xero['held']}, outcomes {xero['outcomes']}"
    )
    salesforce = bench_salesforce(run)
    log(
        f"Salesforce: {salesforce['calls']} calls for {RECORDS} accounts "
        f"(batch {salesforce['batch']}) in {salesforce['seconds']:.1f}s; 429s "
        f"{salesforce['http_429']}; created {salesforce['created_counter']}, held "
        f"+{salesforce['held']}, outcomes {salesforce['outcomes']}"
    )
    exact = {
        "xero": xero["created_counter"] == xero["held"] == xero["outcomes"]["created"] == RECORDS
        and not xero["outcomes"]["failed"],
        "salesforce": salesforce["created_counter"]
        == salesforce["held"]
        == salesforce["outcomes"]["created"]
        == RECORDS
        and not salesforce["outcomes"]["failed"],
    }
    result = {
        "records_per_system": RECORDS,
        "xero_calls_per_record": round(xero["calls"] / RECORDS, 5),
        "salesforce_calls_per_record": round(salesforce["calls"] / RECORDS, 5),
        "http_429": xero["http_429"] + salesforce["http_429"],
        "xero_ceiling_share": round(xero["share"], 3),
        "xero_calls": xero["calls"],
        "xero_span_s": round(xero["span"], 2),
        "xero_ideal_span_s": round(xero["ideal"], 2),
        "xero_window_fill": round(xero["window_fill"], 3),
        "xero_push_s": round(xero["seconds"], 2),
        "xero_token_refreshes": xero["refreshes"],
        "salesforce_calls": salesforce["calls"],
        "salesforce_push_s": round(salesforce["seconds"], 2),
        "created_exactly": exact,
        "xero_limits": f"{XERO_PER_MINUTE}/min, {XERO_PER_DAY}/day, {XERO_CONCURRENT} at once, "
        f"windows x{TIME_SCALE}",
        "salesforce_limits": f"{SF_DAILY}/24h, {SF_CONCURRENT} at once",
        "batch_sizes": {"xero": xero["batch"], "salesforce": salesforce["batch"]},
        "workers": WORKERS,
        "threads_per_worker": THREADS,
    }
    if not all(exact.values()):
        log(f"NOT exactly {RECORDS} new records: {exact}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
