"""Fixtures for the sync core: real sandboxes over HTTP, real connections, a real mapping."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from clarity.models import Flow, IntegrationPair
from connectors.models import Connection
from connectors.sandbox.control import SandboxControl
from connectors.services import xero_connect_finish, xero_connect_start
from mappings.models import FieldMappingRow, Mapping

XERO_CALLBACK = "http://localhost:8000/admin/connectors/connection/xero/callback/"


def connect_xero(connection: Connection) -> None:
    """The "Connect to Xero" consent, done by a program instead of a browser."""
    url, state = xero_connect_start(connection=connection, redirect_uri=XERO_CALLBACK)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    xero_connect_finish(
        connection=connection,
        redirect_uri=XERO_CALLBACK,
        callback_url=consent.headers["Location"],
        state=state,
    )


def customers_to_contacts_mapping() -> Mapping:
    mapping = Mapping.objects.create(
        name="SYSPRO customers → Xero contacts",
        source_system="SYSPRO",
        source_entity="customers",
        target_system="Xero",
        target_entity="Contacts",
    )
    rows = [
        (["Customer"], ["ContactNumber"], []),
        (["Name"], ["Name"], [{"name": "trim"}]),
        (["Email"], ["EmailAddress"], []),
        (["ShortName"], ["FirstName"], [{"name": "trim"}]),
        (["Currency"], ["DefaultCurrency"], []),
    ]
    for order, (sources, targets, transforms) in enumerate(rows):
        FieldMappingRow.objects.create(
            mapping=mapping, order=order, sources=sources, targets=targets, transforms=transforms
        )
    return mapping


def syspro_xero_connections(syspro_url: str, xero_url: str) -> tuple[Connection, Connection]:
    """SYSPRO and Xero connections on two sandboxes, Xero's consent done."""
    syspro = Connection.objects.create(
        name="SYSPRO",
        system="syspro",
        base_url=syspro_url,
        settings={"company_id": "EDU1", "operator": "ADMIN"},
        credentials={"operator_password": "demo", "company_password": "demo"},
    )
    xero = Connection.objects.create(
        name="Xero",
        system="xero",
        base_url=xero_url,
        credentials={"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
    )
    connect_xero(xero)
    return syspro, xero


def customers_flow(syspro: Connection, xero: Connection) -> Flow:
    """SYSPRO customers → Xero contacts on a pair of their own."""
    pair = IntegrationPair.objects.create(
        name="SYSPRO ↔ Xero", connection_a=syspro, connection_b=xero
    )
    return Flow.objects.create(
        pair=pair,
        name="Customers → Contacts",
        source_connection=syspro,
        source_entity="customers",
        target_connection=xero,
        target_entity="Contacts",
        mapping=customers_to_contacts_mapping(),
        source_version_field="LastChanged",
        target_reference_field="ContactNumber",
        business_key_field="Customer",
        batch_size=100,
    )


@pytest.fixture
def syspro_xero(sandbox) -> dict[str, Any]:
    """SYSPRO customers → Xero contacts, wired end to end against both sandboxes."""
    syspro_server = sandbox("syspro")
    xero_server = sandbox("xero")
    flow = customers_flow(*syspro_xero_connections(syspro_server.url, xero_server.url))
    return {
        "flow": flow,
        "syspro": SandboxControl(syspro_server.url),
        "xero": SandboxControl(xero_server.url),
        "syspro_server": syspro_server,
        "xero_server": xero_server,
    }
