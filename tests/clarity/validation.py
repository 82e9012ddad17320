"""A small SYSPRO → Xero flow with one customer per validate outcome, against real sandboxes.

Eight SYSPRO customers; in Xero: one twin identical to what the flow would send, one
with another name and email (would update), none for the rest (would create). A skip
rule holds one customer back, and a lookup table of customer codes lacks one code, so
that customer fails the way a real run fails it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clarity.models import Flow, SyncRecord, SyncRun, Trigger, ValidateRun
from clarity.services.runs import flow_run_enqueue
from clarity.sync.pipeline import flow_run_execute
from clarity.sync.validation import validate_run_execute
from connectors.configs import connector_for
from connectors.sandbox.control import SandboxControl
from mappings.engine import OnMissing
from mappings.models import ConditionalRule, FieldMappingRow, LookupEntry, LookupTable
from mappings.services import lookup_tables_touch, mapping_compile, mapping_part_save
from tests.clarity.conftest import customers_flow, syspro_xero_connections

CUSTOMERS = 8


@dataclass
class Case:
    flow: Flow
    xero: SandboxControl
    customers: list[dict[str, Any]]
    same: str  # the customer code whose Xero twin equals what would be sent
    differs: str  # twin with another Name and EmailAddress
    new: str  # no twin
    skipped: str  # held back by a skip rule
    failing: str  # its code is missing from the lookup table
    table: LookupTable

    def writes(self) -> tuple[int, int]:
        """Xero's write counters: contacts created, contacts updated."""
        stats = self.xero.stats()
        return stats["created"].get("Contacts", 0), stats["updated"].get("Contacts", 0)

    def validate(self, user: Any = None) -> ValidateRun:
        run = ValidateRun.objects.create(flow=self.flow, started_by=user)
        return validate_run_execute(run_id=run.pk)

    def run_for_real(self) -> SyncRun:
        return flow_run_execute(run_id=flow_run_enqueue(flow=self.flow, trigger=Trigger.MANUAL).pk)

    def ledger(self, code: str) -> SyncRecord:
        return SyncRecord.objects.get(flow=self.flow, source_id=code, part=0)


def build(sandbox: Any) -> Case:
    syspro_server = sandbox("syspro", customers=CUSTOMERS, duplicate_names=False)
    xero_server = sandbox("xero", demo={"contacts": 0, "items": 0, "invoices": 0})
    syspro, xero = syspro_xero_connections(syspro_server.url, xero_server.url)
    flow = customers_flow(syspro, xero)
    mapping = flow.mapping
    source = connector_for(syspro)
    try:
        customers = [c for page in source.read_all("customers") for c in page.records]
    finally:
        source.close()
    assert len(customers) == CUSTOMERS
    codes = [c["Customer"] for c in customers]
    same, differs, new, skipped, failing = codes[:5]

    # Twins in Xero, written through its API as a person's earlier work would be.
    plan = mapping_compile(mapping=mapping)
    twins = [plan.apply(c).records[0] for c in customers if c["Customer"] in (same, differs)]
    twins[1] = {**twins[1], "Name": "Old name Ltd", "EmailAddress": "old@example.com"}
    target = connector_for(xero)
    try:
        assert all(outcome.ok for outcome in target.write_batch("Contacts", twins))
    finally:
        target.close()

    ConditionalRule.objects.create(
        mapping=mapping,
        order=0,
        condition=f"Customer == '{skipped}'",
        effect="skip",
        message="Internal account: not for Xero.",
    )
    table = LookupTable.objects.create(name="Customer codes", on_missing=OnMissing.FAIL.value)
    for code in codes:
        if code != failing:
            LookupEntry.objects.create(table=table, key=code, value=code)
    row = FieldMappingRow.objects.get(mapping=mapping, targets=["ContactNumber"])
    row.transforms = [{"name": "lookup", "args": {"table": table.name}}]
    mapping_part_save(part=row)
    lookup_tables_touch(table_ids=[table.pk])
    flow.refresh_from_db()
    return Case(
        flow=flow,
        xero=SandboxControl(xero_server.url),
        customers=customers,
        same=same,
        differs=differs,
        new=new,
        skipped=skipped,
        failing=failing,
        table=table,
    )
