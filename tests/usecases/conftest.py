"""Fixtures for the shipped use cases: the SYSPRO ↔ Xero template imported as a consultant
would, bound to both sandboxes over loopback, with helpers to run flows through real workers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Count

from clarity.forms import TEMPLATE_DIR
from clarity.models import Flow, IntegrationPair, RunStatus, SyncRecord, SyncRun, Trigger
from clarity.services.bundles import bundle_import
from clarity.services.runs import flow_run_enqueue
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.syspro.app import SysproSandbox
from tests.clarity.conftest import connect_xero
from tests.usecases.workers import work_until_idle

TEMPLATE = "syspro_xero.json"


def template() -> dict[str, Any]:
    return json.loads((TEMPLATE_DIR / TEMPLATE).read_text())


class UseCase:
    """The imported pair, its connections and sandboxes, and ways to run its flows."""

    def __init__(self, pair: IntegrationPair, syspro: Connection, xero: Connection, servers):
        self.pair = pair
        self.syspro = syspro
        self.xero = xero
        self.syspro_app: SysproSandbox = servers["syspro"].app
        self.syspro_control = SandboxControl(servers["syspro"].url)
        self.xero_control = SandboxControl(servers["xero"].url)

    def flow(self, name: str) -> Flow:
        return Flow.objects.get(pair=self.pair, name=name)

    def work(self, timeout: float = 120.0) -> None:
        work_until_idle(self.pair, timeout=timeout)

    def run(self, name: str) -> SyncRun:
        flow = self.flow(name)
        run = flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL)
        self.work()
        run.refresh_from_db()
        assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
        return run

    def ledger(self, name: str, business_key: str) -> SyncRecord:
        return SyncRecord.objects.filter(flow=self.flow(name), business_key=business_key).latest(
            "pk"
        )

    def statuses(self, name: str) -> dict[str, int]:
        rows = (
            SyncRecord.objects.filter(flow=self.flow(name)).values("status").annotate(n=Count("id"))
        )
        return {row["status"]: row["n"] for row in rows}

    def xero_get(self, path: str, **params: Any) -> dict[str, Any]:
        """Read the Xero sandbox the way the connector does (same auth, same rate limiter)."""
        connector = connector_for(self.xero)
        return connector.http.request("GET", path, params=params).json()

    def created(self, control: SandboxControl, entity: str) -> int:
        return control.stats().get("created", {}).get(entity, 0)


@pytest.fixture
def syspro_xero_usecase(sandbox) -> Callable[..., UseCase]:
    """Import the shipped SYSPRO ↔ Xero template against fresh sandboxes.

    ``xero_options`` go to the Xero sandbox (e.g. scaled rate limits) and
    ``xero_settings`` onto the Xero connection (the client side of those limits).
    """

    def build(
        *, xero_options: dict[str, Any] | None = None, xero_settings: dict[str, Any] | None = None
    ) -> UseCase:
        syspro_server = sandbox("syspro")
        xero_server = sandbox("xero", **(xero_options or {}))
        syspro = Connection.objects.create(
            name="SYSPRO",
            system="syspro",
            base_url=syspro_server.url,
            settings={"company_id": "EDU1", "operator": "ADMIN"},
            credentials={"operator_password": "demo", "company_password": "demo"},
        )
        xero = Connection.objects.create(
            name="Xero",
            system="xero",
            base_url=xero_server.url,
            settings=dict(xero_settings or {}),
            credentials={
                "client_id": "sandbox-client-id",
                "client_secret": "sandbox-client-secret",
            },
        )
        connect_xero(xero)
        pair = bundle_import(
            bundle=template(), connections={"a": syspro, "b": xero}, pair_name="SYSPRO ↔ Xero"
        )
        return UseCase(pair, syspro, xero, {"syspro": syspro_server, "xero": xero_server})

    return build
