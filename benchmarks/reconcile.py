"""Reconcile 100,000 SYSPRO sales orders against 100,000 Xero invoices under Xero's limits.

Set-up, Xero's limits and their time scale are end_to_end's (imported: a Xero "minute"
lasts 6 s in the sandbox and in the limiter alike). The SYSPRO and Xero sandboxes run in
this process, on loopback; the pair is the shipped SYSPRO ↔ Xero template.

1. Seed: SYSPRO holds ORDERS sales orders (and 2,000 customers). Xero gets a contact per
   customer and, for each order, the invoice the template's mapping makes of it (as the
   sync would have sent it; stored straight into the sandbox, this is history), except:
   every 1,000th order from the 500th has no invoice (missing in Xero), every 1,000th from
   the 7th has an invoice whose Reference was edited in Xero (drift); orders the mapping
   cannot make an invoice of (the demo's awkward ones) have none either; and 100 invoices
   typed into Xero by hand have no order (missing in SYSPRO). Per month, where counts and
   totals differ between the two is worked out from what was seeded.
2. Reconcile once, timed, through the connectors over HTTP, Xero at 60 calls a minute and
   5 at once (its limits, the sandbox enforcing them with 429s), the reconciliation
   taking its background share of the limiter.

``bash .ci/bench reconcile [ORDERS]``. Last line: records, seconds, mismatches_found (of
the seeded ones), mismatches_seeded, http_429, and more.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import requests
from django.core.management import call_command

# end_to_end's production-like Django set-up (DEBUG off, real keys), Xero's limits, scale.
from benchmarks.end_to_end import CALLBACK, CONCURRENT, PER_MINUTE, TIME_SCALE, log
from clarity.forms import TEMPLATE_DIR
from clarity.models import (
    FindingKind,
    Flow,
    ReconciliationRun,
    ReconciliationTrigger,
)
from clarity.services.bundles import bundle_import
from clarity.services.reconciliation import reconciliation_setting_save
from clarity.sync.reconciliation import reconciliation_execute
from connectors.compare import as_moment
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import create_app
from connectors.sandbox.xero.schema import Invalid
from connectors.services import xero_connect_finish, xero_connect_start
from mappings.engine import Outcome, to_json_safe
from mappings.services import mapping_compile

ORDERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
CUSTOMERS = 2_000
HAND_MADE = 100
ORDERS_FLOW = "Sales orders → Invoices"


def connections(syspro_url: str, xero_url: str) -> tuple[Connection, Connection]:
    syspro = Connection.objects.create(
        name="SYSPRO", system="syspro", base_url=syspro_url,
        settings={"company_id": "EDU1", "operator": "ADMIN"},
        credentials={"operator_password": "demo", "company_password": "demo"},
    )  # fmt: skip
    xero = Connection.objects.create(
        name="Xero", system="xero", base_url=xero_url,
        credentials={"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
        settings={
            "rate_limits": {"per_minute": PER_MINUTE, "per_day": 10**9, "concurrent": CONCURRENT},
            "rate_limit_time_scale": TIME_SCALE,
            # Xero's largest page, 100 calls for 100,000 invoices [S] (systems/xero.md)
            "page_size": 1000,
        },
    )  # fmt: skip
    url, state = xero_connect_start(connection=xero, redirect_uri=CALLBACK)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    xero_connect_finish(connection=xero, redirect_uri=CALLBACK,
                        callback_url=consent.headers["Location"], state=state)  # fmt: skip
    return syspro, xero


def month(value: object) -> str:
    moment = as_moment(value)
    return moment.strftime("%Y-%m") if moment else "(no date)"


def seed(flow: Flow, syspro_app, xero_app) -> tuple[set, set, set]:
    """Xero's side from SYSPRO's, with the mismatches; returns what reconciliation must find:
    (record findings as (kind, id), months whose counts differ, months whose totals do)."""
    org = next(iter(xero_app.orgs.values()))
    for customer in syspro_app.table("ArCustomer"):
        org.save("Contacts", {"ContactNumber": customer["Customer"], "Name": customer["Name"]},
                 update=False)  # fmt: skip
    plan = mapping_compile(mapping=flow.mapping)
    expected: set[tuple[str, str]] = set()
    counts: dict[str, Counter[str]] = {"source": Counter(), "target": Counter()}
    totals: dict[str, defaultdict[str, Decimal]] = {
        side: defaultdict(Decimal) for side in ("source", "target")
    }
    n = 0
    reader = connector_for(flow.source_connection)
    for page in reader.read_all("sales_orders"):
        for order in page.records:
            result = plan.apply(order)
            if result.outcome == Outcome.SKIPPED:
                continue
            number = order["SalesOrder"]
            counts["source"][month(order["OrderDate"])] += 1
            totals["source"][month(order["OrderDate"])] += sum(
                (Decimal(str(line.get("MOrderQty") or 0)) * Decimal(str(line.get("MPrice") or 0))
                 for line in order.get("SorDetail") or []), Decimal(0),
            )  # fmt: skip
            n += 1
            if result.outcome == Outcome.FAILED or n % 1000 == 500:
                expected.add((FindingKind.MISSING_IN_TARGET, number))
                continue
            invoice = to_json_safe(result.records[0])
            if n % 1000 == 7:
                invoice["Reference"] = "edited in Xero"
                expected.add((FindingKind.DRIFT, number))
            try:
                saved = org.save("Invoices", invoice, update=False).record
            except Invalid:  # Xero refuses it (its customer is not a contact): never sent
                expected.add((FindingKind.MISSING_IN_TARGET, number))
                expected.discard((FindingKind.DRIFT, number))
                continue
            counts["target"][month(saved["Date"])] += 1
            totals["target"][month(saved["Date"])] += Decimal(str(saved["SubTotal"]))
        log(f"  seeded {n} invoices")
    customer = syspro_app.table("ArCustomer")[0]["Customer"]
    for k in range(HAND_MADE):
        saved = org.save("Invoices", {
            "Type": "ACCREC", "InvoiceNumber": f"HAND-{k:05d}", "Status": "AUTHORISED",
            "Contact": {"ContactNumber": customer}, "Date": f"2026-0{1 + k % 9}-15",
            "LineItems": [{"Description": "Typed in Xero", "Quantity": 1, "UnitAmount": 10 + k,
                           "AccountCode": "200", "TaxType": "OUTPUT2"}],
        }, update=False).record  # fmt: skip
        expected.add((FindingKind.MISSING_IN_SOURCE, saved["InvoiceID"]))
        counts["target"][month(saved["Date"])] += 1
        totals["target"][month(saved["Date"])] += Decimal(str(saved["SubTotal"]))
    months = set(counts["source"]) | set(counts["target"])
    count_months = {m for m in months if counts["source"][m] != counts["target"][m]}
    total_months = {
        m for m in months
        if totals["source"][m].quantize(Decimal("0.01")) != totals["target"][m].quantize(
            Decimal("0.01"))
    }  # fmt: skip
    return expected, count_months, total_months


def main() -> None:
    call_command("migrate", verbosity=0)
    log(f"1. seeding {ORDERS} SYSPRO orders and their Xero invoices")
    syspro_app = create_app("syspro", {"customers": CUSTOMERS, "duplicate_names": False,
                                       "orders": ORDERS})  # fmt: skip
    xero_app = create_app("xero", {"demo": {"contacts": 0, "items": 0, "invoices": 0},
                                   "time_scale": TIME_SCALE, "limits": {"day": 10**9}})  # fmt: skip
    servers = [SandboxServer(syspro_app).start(), SandboxServer(xero_app).start()]
    try:
        syspro, xero = connections(servers[0].url, servers[1].url)
        template = json.loads((TEMPLATE_DIR / "syspro_xero.json").read_text())
        pair = bundle_import(bundle=template, connections={"a": syspro, "b": xero},
                             pair_name="SYSPRO ↔ Xero")  # fmt: skip
        flow = Flow.objects.get(pair=pair, name=ORDERS_FLOW)
        reconciliation_setting_save(flow=flow, user=None, data={
            "source_amount_field": "SorDetail[].MOrderQty*SorDetail[].MPrice",
            "target_amount_field": "SubTotal", "source_date_field": "OrderDate",
            "target_date_field": "Date", "period": "month",
        })  # fmt: skip
        expected, count_months, total_months = seed(flow, syspro_app, xero_app)
        seeded = len(expected) + len(count_months) + len(total_months)
        log(f"   {len(expected)} records and {len(count_months) + len(total_months)} monthly "
            "figures seeded to disagree")  # fmt: skip

        log(f"2. reconciling under Xero's limits ({PER_MINUTE}/min, {CONCURRENT} at once), "
            f"time x{TIME_SCALE}")  # fmt: skip
        before = xero_app.stats["requests"]
        run = ReconciliationRun.objects.create(pair=pair, trigger=ReconciliationTrigger.ON_DEMAND)
        t0 = time.monotonic()
        run = reconciliation_execute(run_id=run.pk)
        seconds = time.monotonic() - t0
        findings = list(run.findings.values_list("kind", "source_id", "target_id", "period"))
        found_records = {
            (kind, target if kind == FindingKind.MISSING_IN_SOURCE else source)
            for kind, source, target, _ in findings
        }
        found_counts = {p for kind, _, _, p in findings if kind == FindingKind.COUNT_MISMATCH}
        found_totals = {p for kind, _, _, p in findings if kind == FindingKind.TOTAL_MISMATCH}
        found = (
            len(expected & found_records)
            + len(count_months & found_counts)
            + len(total_months & found_totals)
        )
        unexpected = (
            len(found_records - expected - {(k, "") for k in FindingKind.values})
            + len(found_counts - count_months)
            + len(found_totals - total_months)
        )
        log(f"   {run.status}: {run.message or 'done'} in {seconds:.1f}s; "
            f"{found} of {seeded} found, {unexpected} unexpected")  # fmt: skip
        print(json.dumps({
            "records": ORDERS,
            "seconds": round(seconds, 1),
            "mismatches_found": found,
            "mismatches_seeded": seeded,
            "http_429": xero_app.stats["rate_limited"],
            "unexpected_findings": unexpected,
            "source_records": run.source_records,
            "target_records": run.target_records,
            "xero_calls": xero_app.stats["requests"] - before,
            "time_scale": TIME_SCALE,
        }))  # fmt: skip
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
