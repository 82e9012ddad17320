"""SYSPRO customers → Xero contacts end to end: throughput, and the rate-limit ceiling.

Real processes throughout: PostgreSQL and Redis (started by ``.ci/bench``),
the SYSPRO and Xero sandboxes each in its own process (``manage.py sandbox``)
and two ``manage.py syncworker`` processes per phase, started once the
phase's flow exists (a worker finds a new pair's queue only at its next sweep).

1. Limits lifted: RECORDS customers (default 50,000) through large Xero
   batches; prints records per second from "Run now" to the last outcome
   stored (its own timestamp, not the poll that saw it).
2. Xero's real limits simulated — 60 calls a minute and 5 at once per
   tenant — scaled in time by ``TIME_SCALE`` (the limiter's and the
   sandbox's windows both: a "minute" lasts 6 s), 50 contacts a call, the
   recommended Xero batch. LIMITED_RECORDS customers (default 60,000: 1,200
   calls, 20 windows, two minutes) so the limit binds for long enough that
   the first and last windows weigh little. Prints the share of the ceiling
   achieved — the most calls a sliding window allows in the elapsed time,
   ``limit * (floor(elapsed / window) + 1)`` — and the 429s received.

Run with ``bash .ci/bench end_to_end [RECORDS [LIMITED_RECORDS]]``. The last line is JSON.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarity.settings")
# Timed as in production: DEBUG off (no query logging), real keys.
os.environ.update(
    DEBUG="False",
    SECRET_KEY=Fernet.generate_key().decode() * 2,
    CLARITY_ENCRYPTION_KEYS=f"bench={Fernet.generate_key().decode()}",
    CLARITY_FAST_PASSWORD_HASHER="1",  # noqa: S106 — a switch, not a password
)

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.models import Count, Max  # noqa: E402
from django.utils import timezone  # noqa: E402

from clarity.models import (  # noqa: E402
    Flow,
    IntegrationPair,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
)
from clarity.services.runs import flow_run_enqueue  # noqa: E402
from connectors.models import Connection  # noqa: E402
from connectors.sandbox.control import SandboxControl  # noqa: E402
from connectors.services import (  # noqa: E402
    connection_save,
    xero_connect_finish,
    xero_connect_start,
)
from devtools.localservers import free_port  # noqa: E402
from mappings.models import FieldMappingRow, Mapping  # noqa: E402

RECORDS = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
LIMITED_RECORDS = int(sys.argv[2]) if len(sys.argv) > 2 else 60_000
TIME_SCALE = 0.1  # a Xero "minute" lasts 6 s
PER_MINUTE, CONCURRENT = 60, 5
CALLBACK = "http://localhost:8000/admin/connectors/connection/xero/callback/"
MANAGE = [sys.executable, str(ROOT / "manage.py")]


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
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        with open(self.tmp / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                    start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def mapping(tag: str) -> Mapping:
    m = Mapping.objects.create(name=f"Customers → contacts {tag}", source_system="SYSPRO",
                               source_entity="customers", target_system="Xero",
                               target_entity="Contacts")  # fmt: skip
    rows = [
        (["Customer"], ["ContactNumber"], []),
        (["Name"], ["Name"], [{"name": "trim"}]),
        (["Email"], ["EmailAddress"], []),
        (["ShortName"], ["FirstName"], [{"name": "trim"}]),
        (["Currency"], ["DefaultCurrency"], []),
    ]
    for order, (sources, targets, transforms) in enumerate(rows):
        FieldMappingRow.objects.create(mapping=m, order=order, sources=sources, targets=targets,
                                       transforms=transforms)  # fmt: skip
    return m


def flow_for(tag: str, syspro_port: int, xero_port: int, xero_settings: dict, batch: int) -> Flow:
    syspro = Connection(
        name=f"SYSPRO {tag}", system="syspro", base_url=f"http://127.0.0.1:{syspro_port}",
        settings={"company_id": "EDU1", "operator": "ADMIN"},
    )  # fmt: skip
    connection_save(
        connection=syspro,
        new_credentials={"operator_password": "demo", "company_password": "demo"},
    )
    xero = Connection(
        name=f"Xero {tag}", system="xero", base_url=f"http://127.0.0.1:{xero_port}",
        settings=xero_settings,
    )  # fmt: skip
    connection_save(
        connection=xero,
        new_credentials={
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
        },
    )
    url, state = xero_connect_start(connection=xero, redirect_uri=CALLBACK)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    xero_connect_finish(connection=xero, redirect_uri=CALLBACK,
                        callback_url=consent.headers["Location"], state=state)  # fmt: skip
    pair = IntegrationPair.objects.create(name=f"SYSPRO ↔ Xero {tag}", connection_a=syspro,
                                          connection_b=xero)  # fmt: skip
    return Flow.objects.create(
        pair=pair, name=f"Customers → Contacts {tag}", source_connection=syspro,
        source_entity="customers", target_connection=xero, target_entity="Contacts",
        mapping=mapping(tag), source_version_field="LastChanged",
        target_reference_field="ContactNumber", business_key_field="Customer", batch_size=batch,
    )  # fmt: skip


def sandboxes(stack: Stack, name: str, customers: int, xero_options: dict) -> tuple[int, int]:
    """Each sandbox in its own process: in one, a SYSPRO page being built held the GIL
    while Xero calls waited, so the sandboxes' Python timed itself, not the engine."""
    ports = {"syspro": free_port(), "xero": free_port()}
    options = {
        "syspro": {"customers": customers, "duplicate_names": False},
        "xero": {"demo": {"contacts": 0, "items": 0, "invoices": 0}, **xero_options},
    }
    procs = {
        system: stack.start(f"{name}-{system}", [*MANAGE, "sandbox", "--skip-checks",
                                                  "--only", system, "--options",
                                                  json.dumps({system: options[system]}),
                                                  "--ports", f"{system}={port}"])
        for system, port in ports.items()
    }  # fmt: skip
    for system, port in ports.items():
        wait_port(port, procs[system])
    return ports["syspro"], ports["xero"]


def run_and_wait(flow: Flow, records: int, timeout: float) -> float:
    """Seconds from "Run now" to the last outcome stored, once all ``records`` have one.

    Polls the run's own counters (one row), not the ledger: counting 50,000 ledger
    rows four times a second took CPU from the run being timed. The end is the
    last outcome's own timestamp, so the poll interval adds nothing to the time.
    """
    started = timezone.now()
    flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
    deadline = time.monotonic() + timeout
    logged = 0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        run = SyncRun.objects.filter(flow=flow).order_by("-id").first()
        if run is None:
            continue
        if run.done_count >= logged + records // 10:
            logged = run.done_count
            log(f"  {logged} / {records} after {(timezone.now() - started).total_seconds():.0f}s")
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            continue
        counts = dict(
            SyncRecord.objects.filter(flow=flow).values_list("status").annotate(n=Count("id"))
        )
        if counts.get("succeeded", 0) + counts.get("failed", 0) < records or counts.get("pending"):
            continue  # e.g. transient failures a later run retries
        if counts.get("failed"):
            log(f"  failures: {counts}")
        last = SyncRecord.objects.filter(flow=flow).aggregate(last=Max("updated_at"))["last"]
        return (last - started).total_seconds()
    raise SystemExit(f"not done after {timeout:.0f}s")


def workers(stack: Stack, phase: str) -> None:
    """Two workers started once the phase's flow exists, so they listen on its queue
    from the start: a worker notices a new pair's queue only at its next sweep (30 s),
    which a run started after the workers waited for — the limited phase's "hang"."""
    for n in range(2):
        stack.start(f"{phase}-worker-{n}", [*MANAGE, "syncworker", "--skip-checks",
                                            "--with-scheduler"])  # fmt: skip
    time.sleep(3)


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
    lifted = {"per_minute": 10**9, "per_day": 10**9, "concurrent": 10}
    log(f"1. limits lifted: {RECORDS} customers")
    no_limits = {"minute": 10**9, "day": 10**9, "appminute": 10**9, "concurrent": 10**6}
    syspro_port, xero_port = sandboxes(stack, "sandbox-fast", RECORDS, {"limits": no_limits})
    fast = flow_for("fast", syspro_port, xero_port,
                    {"rate_limits": lifted, "batch_sizes": {"Contacts": 1000}}, 1000)  # fmt: skip
    workers(stack, "fast")
    seconds = run_and_wait(fast, RECORDS, 1800)
    fast_stats = SandboxControl(f"http://127.0.0.1:{xero_port}").stats()
    stack.stop()
    records_per_s = RECORDS / seconds
    log(f"   {RECORDS} in {seconds:.1f}s: {records_per_s:.0f} records/s")

    log(f"2. Xero's limits ({PER_MINUTE}/min, {CONCURRENT} at once), time x{TIME_SCALE}: "
        f"{LIMITED_RECORDS} customers")  # fmt: skip
    syspro_port, xero_port = sandboxes(stack, "sandbox-limited", LIMITED_RECORDS, {
        "time_scale": TIME_SCALE, "limits": {"day": 10**9}})  # fmt: skip
    window = 60 * TIME_SCALE
    real = {
        "rate_limits": {"per_minute": PER_MINUTE, "per_day": 10**9, "concurrent": CONCURRENT},
        "rate_limit_time_scale": TIME_SCALE,
        "rate_limit_max_wait": window + 1,
    }
    limited = flow_for("limited", syspro_port, xero_port, real, 50)
    workers(stack, "limited")
    control = SandboxControl(f"http://127.0.0.1:{xero_port}")
    before = control.stats()["requests"]
    t0 = time.monotonic()
    elapsed = run_and_wait(limited, LIMITED_RECORDS, 1800)
    stats = control.stats()
    calls = stats["requests"] - before
    # The first call and the last may fall anywhere in their windows: the most a
    # sliding window lets through in `elapsed` is limit * (floor(elapsed / window) + 1).
    ceiling = PER_MINUTE * (math.floor(elapsed / window) + 1)
    share = calls / ceiling
    log(f"   {calls} calls in {time.monotonic() - t0:.1f}s, ceiling {ceiling}: {share:.3f}; "
        f"429s {stats['rate_limited']}")  # fmt: skip
    return {
        "records": RECORDS,
        "records_per_s": round(records_per_s, 1),
        "seconds": round(seconds, 2),
        "xero_calls_fast": fast_stats["requests"],
        "limited_records": LIMITED_RECORDS,
        "limited_seconds": round(elapsed, 2),
        "limited_calls": calls,
        "ceiling_calls": ceiling,
        "ceiling_share": round(share, 3),
        "http_429": stats["rate_limited"] + fast_stats["rate_limited"],
        "workers": 2,
        "time_scale": TIME_SCALE,
    }


if __name__ == "__main__":
    main()
