"""Fixtures for the Salesforce ↔ KashFlow use cases: the shipped template imported as a
consultant would, bound to both sandboxes over loopback, flows run by real RQ workers.

Kept out of ``conftest.py`` (shared with the SYSPRO ↔ Xero use cases): the test module
imports ``sf_kf`` from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db.models import Count

from clarity.forms import TEMPLATE_DIR
from clarity.models import Flow, IntegrationPair, RunStatus, SyncRecord, SyncRun, Trigger
from clarity.services.bundles import bundle_import
from clarity.services.runs import flow_run_enqueue
from connectors.base import Connector
from connectors.configs import connector_for
from connectors.models import Connection
from connectors.sandbox.control import SandboxControl
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import create_app
from tests.usecases.workers import work_until_idle

TEMPLATE = "salesforce_kashflow.json"
PAIR = "Salesforce ↔ KashFlow"
ACCOUNTS = "Accounts → KashFlow customers"
CUSTOMERS_TO_ACCOUNTS = "KashFlow customers → Accounts"
CUSTOMERS_TO_CONTACTS = "KashFlow customers → Contacts"
PRODUCTS = "KashFlow products → Product2"
PRICES = "KashFlow products → standard prices"
SF_PRODUCTS = "Product2 → KashFlow products"
SF_PRICES = "Standard prices → KashFlow products"
INVOICES = "Won opportunities → KashFlow invoices"
WRITE_BACK = "KashFlow invoices → Opportunities"


def template() -> dict[str, Any]:
    return json.loads((TEMPLATE_DIR / TEMPLATE).read_text())


class SfKf:
    """The imported pair, its connections and sandboxes, and ways to run its flows."""

    def __init__(
        self,
        pair: IntegrationPair,
        salesforce: Connection,
        kashflow: Connection,
        servers: dict[str, SandboxServer],
    ) -> None:
        self.pair = pair
        self.salesforce = salesforce
        self.kashflow = kashflow
        self.sf_app = servers["salesforce"].app
        self.kf_app = servers["kashflow"].app
        self.sf_control = SandboxControl(servers["salesforce"].url)
        self.kf_control = SandboxControl(servers["kashflow"].url)

    def flow(self, name: str) -> Flow:
        return Flow.objects.get(pair=self.pair, name=name)

    def work(self, timeout: float = 60.0) -> None:
        work_until_idle(self.pair, timeout=timeout)

    def run(self, name: str, trigger: str = Trigger.SCHEDULE) -> SyncRun:
        """One run of a flow, as its schedule (the polling path) would start it."""
        run = flow_run_enqueue(flow=self.flow(name), trigger=trigger)
        self.work()
        run.refresh_from_db()
        assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
        return run

    def records(self, name: str, **filters: Any) -> list[SyncRecord]:
        return list(SyncRecord.objects.filter(flow=self.flow(name), **filters).order_by("pk"))

    def statuses(self, name: str) -> dict[str, int]:
        rows = (
            SyncRecord.objects.filter(flow=self.flow(name)).values("status").annotate(n=Count("id"))
        )
        return {row["status"]: row["n"] for row in rows}

    def writes(self) -> dict[str, dict[str, int]]:
        """Every record created or updated in either sandbox so far, per system and object."""
        counts: dict[str, dict[str, int]] = {}
        for system, control in (("salesforce", self.sf_control), ("kashflow", self.kf_control)):
            stats = control.stats()
            for action in ("created", "updated"):
                for entity, n in (stats.get(action) or {}).items():
                    counts.setdefault(system, {})[f"{action} {entity}"] = n
        return counts

    def sf(self) -> Connector:
        return connector_for(self.salesforce)

    def kf(self) -> Connector:
        return connector_for(self.kashflow)

    def soql(self, query: str) -> list[dict[str, Any]]:
        body = self.sf()._call("GET", "query", params={"q": query}).json()
        return body["records"]


@pytest.fixture
def sf_kf(db) -> Iterator[Callable[..., SfKf]]:
    """Import the shipped template against fresh Salesforce and KashFlow sandboxes.

    The KashFlow sandbox is seeded small (``kashflow_options``) to keep runs short;
    its deliberately bad records (NON01 without a name, GHO01's invoice) stay.
    """
    servers: list[SandboxServer] = []

    def build(**kashflow_options: Any) -> SfKf:
        options = {"customers": 40, "invoices": 30, **kashflow_options}
        started = {
            "salesforce": SandboxServer(create_app("salesforce", {})).start(),
            "kashflow": SandboxServer(create_app("kashflow", options)).start(),
        }
        servers.extend(started.values())
        salesforce = Connection.objects.create(
            name="Salesforce",
            system="salesforce",
            base_url=started["salesforce"].url,
            settings={
                "client_id": "3MVG9demo.clarity.connect.sandbox",
                "auth_flow": "client_credentials",
                "call_options_client": "clarity-connect",
            },
            credentials={"client_secret": "demo-client-secret-0123456789"},
        )
        kashflow = Connection.objects.create(
            name="KashFlow",
            system="kashflow",
            base_url=started["kashflow"].url,
            settings={"username": "demo", "rate_limits": {"per_minute": 6000, "concurrent": 4}},
            credentials={"password": "demo", "memorable_word": "clarity"},
        )
        pair = bundle_import(
            bundle=template(), connections={"a": salesforce, "b": kashflow}, pair_name=PAIR
        )
        return SfKf(pair, salesforce, kashflow, started)

    yield build
    for server in servers:
        server.stop()
