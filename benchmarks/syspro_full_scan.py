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

from benchmarks.bench_sandboxes import NO_LIMITS, connect_xero, sandboxes  # noqa: E402
from clarity.models import (  # noqa: E402
    Flow,
    IntegrationPair,
    ReadMode,
    RecordStatus,
    SyncRecord,
    Trigger,
)
from clarity.services.runs import flow_run_enqueue  # noqa: E402
from clarity.sync.fullscan import scan_page_changed, scan_page_remember  # noqa: E402
from clarity.sync.pipeline import flow_run_execute  # noqa: E402
from connectors.configs import connector_for  # noqa: E402
from connectors.models import Connection  # noqa: E402
from devtools.localservers import free_port  # noqa: E402
from mappings.models import FieldMappingRow, Mapping  # noqa: E402

CUSTOMERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
CHANGED_SHARE = 0.01
SANDBOXES = {
    # Pages of 5,000 customers: e.net documents no ReturnRows cap (the sandbox's 1,000 is [A]).
    "syspro": {"customers": CUSTOMERS, "duplicate_names": False, "max_return_rows": 5000},
    "xero": {"demo": {"contacts": 0, "items": 0, "invoices": 0}, "limits": NO_LIMITS},
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def flow_for(syspro_url: str, xero_url: str) -> Flow:
    syspro = Connection.objects.create(
        name="SYSPRO (full scan)",
        system="syspro",
        base_url=syspro_url,
        settings={"company_id": "EDU1", "operator": "ADMIN", "page_size": 5000},
        credentials={"operator_password": "demo", "company_password": "demo"},
    )
    xero = Connection.objects.create(
        name="Xero (full scan)",
        system="xero",
        base_url=xero_url,
        settings={
            "rate_limits": {"per_minute": 10**9, "per_day": 10**9, "concurrent": 10},
            "batch_sizes": {"Contacts": 1000},
        },
        credentials={"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
    )
    connect_xero(xero)
    mapping = Mapping.objects.create(
        name="SYSPRO customers → Xero contacts (full scan)",
        source_system="SYSPRO",
        source_entity="customers",
        target_system="Xero",
        target_entity="Contacts",
    )
    for order, (source, target) in enumerate(
        (("Customer", "ContactNumber"), ("Name", "Name"), ("Email", "EmailAddress"))
    ):
        FieldMappingRow.objects.create(
            mapping=mapping, order=order, sources=[source], targets=[target]
        )
    pair = IntegrationPair.objects.create(
        name="SYSPRO ↔ Xero (full scan)", connection_a=syspro, connection_b=xero
    )
    return Flow.objects.create(
        pair=pair,
        name="Customers → Contacts, full scan",
        source_connection=syspro,
        source_entity="customers",
        target_connection=xero,
        target_entity="Contacts",
        mapping=mapping,
        read_mode=ReadMode.FULL_SCAN,
        target_reference_field="ContactNumber",
        business_key_field="Customer",
        batch_size=1000,
    )


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
        flow = flow_for(f"http://127.0.0.1:{ports['syspro']}", f"http://127.0.0.1:{ports['xero']}")
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
