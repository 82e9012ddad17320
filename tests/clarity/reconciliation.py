"""A SYSPRO ↔ Xero pair for the reconciliation tests: the shipped template imported against
both sandboxes, a few SYSPRO sales orders delivered to Xero as invoices by the real flows,
and the orders flow set to reconcile invoice totals per month."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from clarity.forms import TEMPLATE_DIR
from clarity.models import Flow, IntegrationPair, ReconciliationSetting, SyncRun, Trigger
from clarity.services.bundles import bundle_import
from clarity.services.reconciliation import reconciliation_setting_save
from clarity.sync.pipeline import flow_run_execute
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.syspro.seed import (
    DUPLICATE_NAME_CUSTOMERS,
    MISSING_CUSTOMER,
    UNMAPPED_ORDER,
)
from tests.clarity.conftest import syspro_xero_connections

CUSTOMERS = "Customers → Contacts"
ORDERS = "Sales orders → Invoices"
ORDER_SETTING = {
    "source_amount_field": "SorDetail[].MOrderQty*SorDetail[].MPrice",
    "target_amount_field": "SubTotal",
    "source_date_field": "OrderDate",
    "target_date_field": "Date",
    "period": "month",
}


@dataclass
class Reconciled:
    pair: IntegrationPair
    orders: Flow
    setting: ReconciliationSetting
    syspro: Any  # the SYSPRO sandbox app, in this process
    xero: Any  # the Xero sandbox app
    syspro_control: SandboxControl
    xero_control: SandboxControl
    xero_connection: Connection

    def order_numbers(self) -> list[str]:
        return [row["SalesOrder"] for row in self.syspro.table("SorMaster")]

    def xero_invoice(self, number: str) -> dict[str, Any]:
        """The invoice as Xero answers it, through the connector (its auth, its limiter)."""
        connector = connector_for(self.xero_connection)
        body = connector.http.request("GET", "/Invoices", params={"InvoiceNumbers": number})
        invoices: list[dict[str, Any]] = body.json()["Invoices"]
        assert len(invoices) == 1, invoices
        return invoices[0]

    def xero_edit(self, invoice_id: str, **values: Any) -> None:
        """A person's edit in Xero: the stored invoice changes, nothing goes through Clarity."""
        org = next(o for o in self.xero.orgs.values() if invoice_id in o.records["Invoices"])
        org.records["Invoices"][invoice_id].update(values)

    def writes(self) -> dict[str, Any]:
        """What each sandbox counts as written (created, updated, deleted)."""
        counted = {}
        for name, control in (("syspro", self.syspro_control), ("xero", self.xero_control)):
            stats = control.stats()
            counted[name] = {k: stats.get(k) for k in ("created", "updated", "deleted")}
        return counted


def keep_orders(syspro: Any, count: int) -> list[str]:
    """Leave the SYSPRO company ``count`` orders a sync delivers without a failure (their
    customer on file and unique, their stock codes in the lookups); returns their numbers."""
    awkward = {MISSING_CUSTOMER, *DUPLICATE_NAME_CUSTOMERS}
    kept = [
        row
        for row in syspro.table("SorMaster")
        if row["Customer"] not in awkward
        and row["SalesOrder"] != UNMAPPED_ORDER
        and row["OrderStatus"] not in ("S", "\\")
    ][:count]
    numbers = {row["SalesOrder"] for row in kept}
    syspro.tables["SorMaster"] = kept
    syspro.tables["SorDetail"] = [
        r for r in syspro.table("SorDetail") if r["SalesOrder"] in numbers
    ]
    syspro._indexes.clear()
    return sorted(numbers)


def run_flow(flow: Flow) -> SyncRun:
    run = SyncRun.objects.create(flow=flow, trigger=Trigger.MANUAL)
    return flow_run_execute(run_id=run.pk)


def reconciled_pair(sandbox: Any, *, orders: int = 6) -> Reconciled:
    """The template's pair with ``orders`` sales orders delivered as Xero invoices."""
    syspro_server = sandbox("syspro", customers=40, duplicate_names=False)
    xero_server = sandbox("xero", demo={"invoices": 0})
    syspro, xero = syspro_xero_connections(syspro_server.url, xero_server.url)
    template = json.loads((TEMPLATE_DIR / "syspro_xero.json").read_text())
    pair = bundle_import(bundle=template, connections={"a": syspro, "b": xero},
                         pair_name="SYSPRO ↔ Xero")  # fmt: skip
    keep_orders(syspro_server.app, orders)
    run_flow(Flow.objects.get(pair=pair, name=CUSTOMERS))
    flow = Flow.objects.get(pair=pair, name=ORDERS)
    run_flow(flow)
    setting = reconciliation_setting_save(flow=flow, data=dict(ORDER_SETTING), user=None)
    return Reconciled(
        pair=pair,
        orders=flow,
        setting=setting,
        syspro=syspro_server.app,
        xero=xero_server.app,
        syspro_control=SandboxControl(syspro_server.url),
        xero_control=SandboxControl(xero_server.url),
        xero_connection=xero,
    )
