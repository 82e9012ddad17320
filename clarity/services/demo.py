"""Demo data for a first look on a laptop: logins, connections to the local sandboxes,
both pairs with their flows, and a handful of ledger records to explore."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import transaction

from clarity.models import (
    ErrorKind,
    Flow,
    IntegrationPair,
    RecordStatus,
    RunStatus,
    SyncRecord,
    SyncRun,
    Trigger,
)
from connectors.models import Connection, Environment, System


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_LOGINS = (
    DemoLogin("admin", "clarity-admin", "superuser"),
    DemoLogin("consultant", "clarity-consultant", "Consultant"),
    DemoLogin("finance", "clarity-finance", "Finance"),
)

SANDBOX_PORTS = {"xero": 8701, "syspro": 8702, "salesforce": 8703, "kashflow": 8704}


def _users() -> None:
    for login in DEMO_LOGINS:
        user, created = User.objects.get_or_create(
            username=login.username,
            defaults={"is_staff": True, "is_superuser": login.role == "superuser"},
        )
        if created:
            user.set_password(login.password)
            user.save()
        if login.role != "superuser":
            user.groups.add(Group.objects.get(name=login.role))


def _connection(system: str, name: str, credentials: dict[str, str], settings: dict) -> Connection:
    connection, _ = Connection.objects.get_or_create(
        name=name,
        defaults={
            "system": system,
            "environment": Environment.SANDBOX,
            "base_url": f"http://127.0.0.1:{SANDBOX_PORTS[system]}",
            "settings": settings,
            "credentials": credentials,
        },
    )
    return connection


def _pairs() -> list[Flow]:
    syspro = _connection(
        System.SYSPRO,
        "SYSPRO (sandbox)",
        {"operator_password": "demo", "company_password": "demo"},
        {"operator": "ADMIN", "company_id": "EDU1"},
    )
    xero = _connection(
        System.XERO,
        "Xero (sandbox)",
        {"client_secret": "demo-secret"},
        {"client_id": "demo-client"},
    )
    salesforce = _connection(
        System.SALESFORCE,
        "Salesforce (sandbox)",
        {"client_secret": "demo-secret"},
        {"client_id": "demo-client"},
    )
    kashflow = _connection(
        System.KASHFLOW,
        "KashFlow (sandbox)",
        {"password": "demo", "memorable_word": "clarity"},
        {"username": "demo"},
    )
    syspro_xero, _ = IntegrationPair.objects.get_or_create(
        name="SYSPRO ↔ Xero",
        defaults={"connection_a": syspro, "connection_b": xero,
                  "description": "Customers and sales orders to Xero; payments back to SYSPRO."},
    )  # fmt: skip
    sf_kf, _ = IntegrationPair.objects.get_or_create(
        name="Salesforce ↔ KashFlow",
        defaults={"connection_a": salesforce, "connection_b": kashflow,
                  "description": "Won opportunities to KashFlow invoices; payments back."},
    )  # fmt: skip
    specs = [
        (syspro_xero, "Customers → Contacts", syspro, "customers", xero, "Contacts", "Customer"),
        (syspro_xero, "Sales orders → Invoices", syspro, "sales_orders", xero, "Invoices",
         "SalesOrder"),
        (syspro_xero, "Payments → AR payments", xero, "Payments", syspro, "ar_payments",
         "Reference"),
        (sf_kf, "Won opportunities → Invoices", salesforce, "Opportunity", kashflow, "invoices",
         "Name"),
        (sf_kf, "Payments → Opportunities", kashflow, "payments", salesforce, "Opportunity",
         "InvoiceNumber"),
    ]  # fmt: skip
    flows = []
    for pair, name, src, src_entity, tgt, tgt_entity, key in specs:
        flow, _ = Flow.objects.get_or_create(
            pair=pair,
            name=name,
            defaults={
                "source_connection": src,
                "source_entity": src_entity,
                "target_connection": tgt,
                "target_entity": tgt_entity,
                "business_key_field": key,
                "trigger_schedule": True,
                "schedule_cron": "*/15 * * * *",
            },
        )
        flows.append(flow)
    return flows


def _ledger_examples(flow: Flow) -> None:
    """A first run's worth of outcomes, so the ledger has something to show."""
    if flow.records.exists():
        return
    run = SyncRun.objects.create(
        flow=flow, trigger=Trigger.MANUAL, status=RunStatus.PARTIAL,
        total_count=4, succeeded_count=2, failed_count=2,
    )  # fmt: skip
    examples = [
        ("SO-100231", RecordStatus.SUCCEEDED, "", "", "", {"OrderStatus": "Shipped"}),
        ("SO-100232", RecordStatus.SUCCEEDED, "", "", "", {"OrderStatus": "Shipped"}),
        ("SO-100233", RecordStatus.FAILED, ErrorKind.DATA, "lookup_missing",
         "No Xero account code for SYSPRO stock code 'WIDGET-9' "
         "(lookup \"SYSPRO stock code → Xero account code\").", {"StockCode": "WIDGET-9"}),
        ("SO-100234", RecordStatus.FAILED, ErrorKind.DATA, "unknown_customer",
         "SYSPRO customer '000999' does not exist in Xero yet; sync the customer first.",
         {"Customer": "000999"}),
    ]  # fmt: skip
    SyncRecord.objects.bulk_create(
        SyncRecord(
            run=run,
            flow=flow,
            pair=flow.pair,
            source_id=source_id,
            source_version="1",
            business_key=source_id,
            idempotency_key=f"demo:{flow.pk}:{source_id}:1",
            status=status,
            error_kind=kind,
            error_code=code,
            message=message,
            attempts=1,
            source_payload={"SalesOrder": source_id, **payload},
        )
        for source_id, status, kind, code, message, payload in examples
    )


@transaction.atomic
def demo_load() -> tuple[DemoLogin, ...]:
    """Create (or leave as they are) the demo users, connections, pairs and flows."""
    _users()
    flows = _pairs()
    _ledger_examples(flows[1])
    return DEMO_LOGINS
