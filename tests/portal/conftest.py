"""Fixtures for the B2B portal: a SYSPRO sandbox over real HTTP, a client with a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from connectors.models import Connection
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import create_app
from portal.models import PortalClient
from portal.services import portal_token_issue

# Seeded customers (connectors/sandbox/syspro/): price code by number % 5, on hold by % 37.
CUSTOMER_A, CUSTOMER_B, CUSTOMER_D, CUSTOMER_LIST = "0000001", "0000002", "0000004", "0000005"
CUSTOMER_ON_HOLD = "0000037"
ALLOWED = (CUSTOMER_A, CUSTOMER_B, CUSTOMER_D, CUSTOMER_LIST, CUSTOMER_ON_HOLD)


@dataclass
class Portal:
    server: SandboxServer
    control: SandboxControl
    connection: Connection
    client: PortalClient
    key: str

    def api(self, key: str | None = None) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key or self.key}")
        return api

    def created_orders(self) -> int:
        return self.control.stats()["created"].get("SorMaster", 0)


@pytest.fixture
def syspro_server() -> Iterator[SandboxServer]:
    server = SandboxServer(create_app("syspro", {})).start()
    yield server
    server.stop()


@pytest.fixture
def make_portal(syspro_server) -> Callable[..., Portal]:
    def make(**client_fields: object) -> Portal:
        connection = Connection.objects.create(
            name=f"SYSPRO portal {Connection.objects.count()}",
            system="syspro",
            base_url=syspro_server.url,
            settings={"company_id": "EDU1", "operator": "ADMIN"},
            credentials={"operator_password": "demo", "company_password": "demo"},
        )
        fields = {"name": f"Web shop {connection.pk}", "customer_codes": " ".join(ALLOWED)}
        client = PortalClient.objects.create(connection=connection, **{**fields, **client_fields})
        _, key = portal_token_issue(client=client)
        return Portal(syspro_server, SandboxControl(syspro_server.url), connection, client, key)

    return make


@pytest.fixture
def portal(db, make_portal) -> Portal:
    return make_portal()
