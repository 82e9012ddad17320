"""Validate run: 50,000 SYSPRO customers against a Xero that already holds 20,000 of them.

Real parts: PostgreSQL and Redis (started by ``.ci/bench``), the SYSPRO and Xero sandboxes
each in its own process (``manage.py sandbox``) over loopback HTTP, limits lifted; the
validate run executed here the way a worker executes its job.

1. Set-up (not timed): a SYSPRO company with CUSTOMERS customers (unique names) and a
   SYSPRO customers -> Xero contacts flow; HELD of them written to Xero through its API
   as the flow would send them, every DIFFER_EVERY-th of those with another name and
   email.
2. Timed: one validate run of the flow — every customer read, mapped, its twin looked up
   in Xero in batches (by ContactNumber), compared, the report stored.

Run with ``bash .ci/bench validate_run [CUSTOMERS [HELD]]``. The last line is JSON with
``records``, ``records_per_s``, ``target_writes`` (contacts Xero counted created or
updated during the run), ``would_create``, ``would_update``, ``unchanged``, and the
seeded figures beside them; the targets are records_per_s >= 1,000, target_writes == 0
and the three counts equal to what was seeded.
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
from clarity.models import Flow, ValidateRun  # noqa: E402
from clarity.sync.validation import validate_run_execute  # noqa: E402
from connectors.configs import connector_for  # noqa: E402
from connectors.sandbox.control import SandboxControl  # noqa: E402
from devtools.localservers import free_port  # noqa: E402
from mappings.services import mapping_compile  # noqa: E402

CUSTOMERS = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
HELD = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
DIFFER_EVERY = 10  # one held contact in ten differs from what would be sent
PAGE = 5000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed_xero(flow: Flow) -> int:
    """HELD customers written to Xero as the flow would send them, one in DIFFER_EVERY
    changed; returns how many differ."""
    source = connector_for(flow.source_connection)
    try:
        customers = [c for page in source.read_all("customers") for c in page.records]
    finally:
        source.close()
    assert len(customers) == CUSTOMERS, len(customers)
    plan = mapping_compile(mapping=flow.mapping)
    step = CUSTOMERS // HELD if HELD else 1
    held = [plan.apply(c).records[0] for c in customers[::step][:HELD]]
    differing = 0
    for index, contact in enumerate(held):
        if index % DIFFER_EVERY == 0:
            contact["Name"] = f"{contact['Name'][:200]} (old)"
            contact["EmailAddress"] = f"old{index}@example.com"
            differing += 1
    target = connector_for(flow.target_connection)
    try:
        for start in range(0, len(held), 1000):
            outcomes = target.write_batch("Contacts", held[start : start + 1000])
            assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok][:3]
    finally:
        target.close()
    return differing


def written(xero: SandboxControl) -> int:
    stats = xero.stats()
    return sum(stats["created"].values()) + sum(stats["updated"].values())


def main() -> None:
    call_command("migrate", verbosity=0)
    ports = {"syspro": free_port(), "xero": free_port()}
    options = {
        # Pages of 5,000 customers: e.net documents no ReturnRows cap (the sandbox's 1,000 is [A]).
        "syspro": (
            ports["syspro"],
            {"customers": CUSTOMERS, "duplicate_names": False, "max_return_rows": PAGE},
        ),
        "xero": (
            ports["xero"],
            {"demo": {"contacts": 0, "items": 0, "invoices": 0}, "limits": NO_LIMITS},
        ),
    }
    with sandboxes(options):
        xero_url = f"http://127.0.0.1:{ports['xero']}"
        flow = customers_to_contacts(
            label="validate",
            syspro_url=f"http://127.0.0.1:{ports['syspro']}",
            xero_url=xero_url,
            xero_settings={
                "rate_limits": XERO_NO_LIMITS,
                "batch_sizes": {"Contacts": 1000},
                "page_size": 1000,  # Xero reads up to 1,000 a page [P] (connectors/xero)
            },
            batch_size=1000,
        )
        log(f"set-up: {CUSTOMERS} SYSPRO customers, {HELD} of them written to Xero")
        differing = seed_xero(flow)
        xero = SandboxControl(xero_url)
        writes_before = written(xero)

        started, cpu = time.perf_counter(), time.process_time()
        run = validate_run_execute(run_id=ValidateRun.objects.create(flow=flow).pk)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu

        target_writes = written(xero) - writes_before
        log(f"validate run {run.pk}: {run.status} {run.message} in {seconds:.1f}s")
        print(
            json.dumps(
                {
                    "records": run.total_count,
                    "records_per_s": round(run.total_count / seconds, 1),
                    "target_writes": target_writes,
                    "would_create": run.would_create_count,
                    "would_update": run.would_update_count,
                    "unchanged": run.unchanged_count,
                    "seconds": round(seconds, 2),
                    # This process's CPU seconds (not the sandboxes' or PostgreSQL's): on a
                    # shared, loaded machine a steadier figure than the wall clock.
                    "cpu_s": round(cpu, 2),
                    "load_avg_1m": round(os.getloadavg()[0], 1),
                    "seeded_create": CUSTOMERS - HELD,
                    "seeded_update": differing,
                    "seeded_unchanged": HELD - differing,
                    "would_skip": run.would_skip_count,
                    "would_fail": run.would_fail_count,
                }
            )
        )


if __name__ == "__main__":
    main()
