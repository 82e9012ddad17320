"""A production pair with every go-live item met, for the go-live tests to break one at a time."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from clarity.models import AlertKind, AlertRule, Flow, IntegrationPair
from clarity.models.validation import (
    ValidateOutcome,
    ValidateRecord,
    ValidateRun,
    ValidateStatus,
)
from connectors.models import Connection, Environment, System
from mappings.models import FieldMappingRow, Mapping
from tests.factories import ConnectionFactory, FlowFactory, PairFactory

XERO_API = "https://api.xero.com"  # a production Xero connection's only host


@dataclass
class Ready:
    pair: IntegrationPair
    flow: Flow
    mapping: Mapping
    run: ValidateRun
    failing: ValidateRecord  # a would-fail record of the run, acknowledged
    rule: AlertRule


def mark_tested(connection: Connection) -> Connection:
    """As "Test connection" leaves it when the system answered."""
    connection.last_check_at, connection.last_check_ok = timezone.now(), True
    connection.last_check_message = "Connected as Demo."
    connection.save(update_fields=["last_check_at", "last_check_ok", "last_check_message"])
    return connection


def simple_mapping(name: str = "Customers → Contacts") -> Mapping:
    mapping = Mapping.objects.create(
        name=name,
        source_system="SYSPRO",
        source_entity="customers",
        target_system="Xero",
        target_entity="Contacts",
    )
    FieldMappingRow.objects.create(mapping=mapping, order=0, sources=["Name"], targets=["Name"])
    return mapping


def validated(flow: Flow, *, failing: int = 0, acknowledged: bool = True) -> ValidateRun:
    """A finished validate run of the flow with the mapping as it is now."""
    now = timezone.now()
    run = ValidateRun.objects.create(
        flow=flow,
        status=ValidateStatus.SUCCEEDED,
        started_at=now,
        finished_at=now,
        mapping_version=flow.mapping.version if flow.mapping else None,
        total_count=1 + failing,
        would_create_count=1,
        would_fail_count=failing,
    )
    ValidateRecord.objects.create(run=run, source_id="C1", outcome=ValidateOutcome.WOULD_CREATE)
    for n in range(failing):
        ValidateRecord.objects.create(
            run=run,
            source_id=f"F{n}",
            outcome=ValidateOutcome.WOULD_FAIL,
            error_kind="data",
            error_code="lookup_missing",
            message="No entry for 'ZZ' in lookup table 'Currencies'.",
            **(
                {"acknowledged_note": "Closed accounts", "acknowledged_at": now}
                if acknowledged
                else {}
            ),
        )
    return run


def production_pair(name: str = "SYSPRO ↔ Xero (live)") -> IntegrationPair:
    return PairFactory(
        name=name,
        connection_a=ConnectionFactory(system=System.SYSPRO, environment=Environment.PRODUCTION),
        connection_b=ConnectionFactory(
            system=System.XERO, environment=Environment.PRODUCTION, base_url=XERO_API
        ),
    )


def ready_pair() -> Ready:
    """Every item met: connections tested, the mapping compiles, validated (one would-fail,
    acknowledged), scheduled, an alert rule with a recipient."""
    pair = production_pair()
    mark_tested(pair.connection_a)
    mark_tested(pair.connection_b)
    mapping = simple_mapping()
    flow = FlowFactory(
        pair=pair,
        name="Customers → Contacts",
        mapping=mapping,
        trigger_schedule=True,
        schedule_cron="*/15 * * * *",
    )
    run = validated(flow, failing=1)
    rule = AlertRule.objects.create(
        pair=pair, kind=AlertKind.FAILURES_OVER, recipients="finance@example.com"
    )
    return Ready(pair, flow, mapping, run, run.records.get(outcome="would_fail"), rule)
