"""SYSPRO full scan: 100,000 customers read and compared, 1% of them changed, only those sent.

Real parts: PostgreSQL and Redis (started by ``.ci/bench``), the SYSPRO and Xero
sandboxes each in its own process (``manage.py sandbox``) over loopback HTTP, the flow
run here the way a worker runs it.

1. Set-up (not timed): a SYSPRO company with CUSTOMERS customers (unique names), a
   SYSPRO customers -> Xero contacts flow in full-scan mode, and the state a previous
   scan left: every customer's content hash, stored by the scan's own functions from a
   COMBRW read of the company.
2. CHANGED_SHARE of the customers, spread over the whole key range, are renamed in
   SYSPRO through e.net (ARSSCS updates, 50 a call).
3. Timed: one run of the flow — COMBRW pages over every customer, the hash of each
   compared with the stored one, the changed ones through the ledger, the mapping and
   Xero (limits lifted), outcomes stored.

Run with ``bash .ci/bench syspro_full_scan [CUSTOMERS]``. The last line is JSON with
``records``, ``changed_seeded``, ``changed_sent`` (ledger rows of the run delivered to
Xero) and ``seconds``; the targets are seconds < 60 and changed_sent == changed_seeded.
"""

from __future__ import annotations

import json
import os
import sys
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

from django.core.management import call_command  # noqa: E402

from benchmarks.bench_sandboxes import (  # noqa: E402
    NO_LIMITS,
    XERO_NO_LIMITS,
    customers_to_contacts,
    sandboxes,
)
from clarity.models import (  # noqa: E402
    Flow,
    ReadMode,
    RecordStatus,
    SyncRecord,
    Trigger,
)
from clarity.services.runs import flow_run_enqueue  # noqa: E402
from clarity.sync.fullscan import scan_page_changed, scan_page_remember  # noqa: E402
from clarity.sync.pipeline import flow_run_execute  # noqa: E402
from connectors.configs import connector_for  # noqa: E402
from devtools.localservers import free_port  # noqa: E402

CUSTOMERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
CHANGED_SHARE = 0.01
SANDBOXES = {
    # Pages of 5,000 customers: e.net documents no ReturnRows cap (the sandbox's 1,000 is [A]).
    "syspro": {"customers": CUSTOMERS, "duplicate_names": False, "max_return_rows": 5000},
    "xero": {"demo": {"contacts": 0, "items": 0, "invoices": 0}, "limits": NO_LIMITS},
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def remember_everything(flow: Flow) -> list[dict]:
    """The state a previous full scan leaves: every customer's hash, by the scan's functions."""
    source = connector_for(flow.source_connection)
    records: list[dict] = []
    try:
        for page in source.read_all(flow.source_entity):
            scanned = scan_page_changed(flow=flow, records=page.records, source_key="Customer")
            scan_page_remember(seen=scanned.seen)
            records += page.records
    finally:
        source.close()
    return records


def rename(flow: Flow, customers: list[dict]) -> None:
    """Rename customers in SYSPRO through e.net, as a person in SYSPRO would change them."""
    source = connector_for(flow.source_connection)
    try:
        for start in range(0, len(customers), 50):
            batch = [
                {"Customer": c["Customer"], "Name": f"{c['Name'][:40]} (changed)"}
                for c in customers[start : start + 50]
            ]
            assert all(outcome.ok for outcome in source.write_batch("customers", batch))
    finally:
        source.close()


def main() -> None:
    call_command("migrate", verbosity=0)
    ports = {"syspro": free_port(), "xero": free_port()}
    with sandboxes({system: (port, SANDBOXES[system]) for system, port in ports.items()}):
        flow = customers_to_contacts(
            label="full scan",
            syspro_url=f"http://127.0.0.1:{ports['syspro']}",
            xero_url=f"http://127.0.0.1:{ports['xero']}",
            xero_settings={
                "rate_limits": XERO_NO_LIMITS,
                "batch_sizes": {"Contacts": 1000},
            },
            read_mode=ReadMode.FULL_SCAN,
            batch_size=1000,
        )
        log(f"set-up: hashes of {CUSTOMERS} customers, as a previous scan leaves them")
        customers = remember_everything(flow)
        assert len(customers) == CUSTOMERS
        step = round(1 / CHANGED_SHARE)
        changed = [row for index, row in enumerate(customers) if index % step == step // 2]
        rename(flow, changed)
        log(f"changed {len(changed)} customers; scanning")

        started = time.perf_counter()
        run = flow_run_execute(run_id=flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL).pk)
        seconds = time.perf_counter() - started

        sent = SyncRecord.objects.filter(run=run, status=RecordStatus.SUCCEEDED)
        changed_sent = sent.count()
        wrong = set(sent.values_list("source_id", flat=True)) ^ {r["Customer"] for r in changed}
        log(
            f"run {run.pk}: {run.status}, {run.total_count} read, {run.skipped_count} unchanged, "
            f"{run.failed_count} failed; {len(wrong)} sent that should not have been or missing"
        )
        print(
            json.dumps(
                {
                    "records": CUSTOMERS,
                    "changed_seeded": len(changed),
                    "changed_sent": changed_sent if not wrong else -len(wrong),
                    "seconds": round(seconds, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
