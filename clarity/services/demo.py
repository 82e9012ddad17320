"""Demo data for a first look on a laptop: logins, connections to the local sandboxes,
SYSPRO ↔ Xero configured from its shipped template, and Salesforce ↔ KashFlow."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import requests
from django.contrib.auth.models import Group, User
from django.db import transaction

from clarity.models import Flow, IntegrationPair, SyncRun, Trigger
from clarity.services.bundles import TEMPLATE_DIR, bundle_import
from clarity.services.runs import flow_run_enqueue
from connectors.models import Connection, Environment, System
from connectors.sandbox.registry import sandbox_ports
from connectors.services import connection_save, xero_connect_finish, xero_connect_start


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
# Where the Xero sandbox sends the browser back after consent; any local URL will do.
DEMO_XERO_CALLBACK = "http://127.0.0.1:8000/admin/connectors/connection/xero/callback/"


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
    """The demo's connection to a sandbox, created (secrets bound to it) through the connection
    service like any other; one already there is left as it is."""
    connection = Connection.objects.filter(name=name).first()
    if connection is None:
        connection = Connection(
            name=name,
            system=system,
            environment=Environment.SANDBOX,
            base_url=f"http://127.0.0.1:{sandbox_ports()[system]}",
            settings=settings,
        )
        connection_save(connection=connection, new_credentials=credentials)
    return connection


def _syspro_xero() -> None:
    syspro = _connection(
        System.SYSPRO,
        "SYSPRO (sandbox)",
        {"operator_password": "demo", "company_password": "demo"},
        {"operator": "ADMIN", "company_id": "EDU1"},
    )
    xero = _connection(
        System.XERO,
        "Xero (sandbox)",
        {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
        {},
    )
    if not IntegrationPair.objects.filter(name="SYSPRO ↔ Xero").exists():
        bundle = json.loads((TEMPLATE_DIR / "syspro_xero.json").read_text())
        bundle_import(
            bundle=bundle, connections={"a": syspro, "b": xero}, pair_name="SYSPRO ↔ Xero"
        )


def _salesforce_kashflow() -> None:
    salesforce = _connection(
        System.SALESFORCE,
        "Salesforce (sandbox)",
        {"client_secret": "demo-client-secret-0123456789"},
        {
            "client_id": "3MVG9demo.clarity.connect.sandbox",
            "auth_flow": "client_credentials",
            "call_options_client": "clarity-connect",
            **_pubsub_endpoint(),
        },
    )
    if "pubsub_endpoint" not in salesforce.settings:  # a demo loaded before the subscriber
        salesforce.settings = {**salesforce.settings, **_pubsub_endpoint()}
        salesforce.save(update_fields=["settings", "updated_at"])
    kashflow = _connection(
        System.KASHFLOW,
        "KashFlow (sandbox)",
        {"password": "demo", "memorable_word": "clarity"},
        # KashFlow publishes no limits; the sandbox has none, so the demo allows more
        # than the connector's cautious default of 60 calls a minute.
        {"username": "demo", "rate_limits": {"per_minute": 3000, "concurrent": 4}},
    )
    if not IntegrationPair.objects.filter(name="Salesforce ↔ KashFlow").exists():
        bundle = json.loads((TEMPLATE_DIR / "salesforce_kashflow.json").read_text())
        bundle_import(
            bundle=bundle,
            connections={"a": salesforce, "b": kashflow},
            pair_name="Salesforce ↔ KashFlow",
        )


def _pubsub_endpoint() -> dict[str, str]:
    """Where the Salesforce sandbox serves the Pub/Sub API: 10 above its HTTP port."""
    return {"pubsub_endpoint": f"127.0.0.1:{sandbox_ports()['salesforce'] + 10}"}


def demo_loaded() -> bool:
    """Whether an earlier start already loaded the demo (and may have run its flows)."""
    return IntegrationPair.objects.filter(
        name__in=("SYSPRO ↔ Xero", "Salesforce ↔ KashFlow")
    ).exists()


@transaction.atomic
def demo_load() -> tuple[DemoLogin, ...]:
    """Create (or leave as they are) the demo users, connections and pairs."""
    _users()
    _syspro_xero()
    _salesforce_kashflow()
    return DEMO_LOGINS


def demo_start() -> list[SyncRun]:
    """With the sandboxes up: connect Xero, then run every mapped flow once."""
    for xero in Connection.objects.filter(system=System.XERO, access_token__isnull=False):
        if xero.access_token:
            continue
        url, state = xero_connect_start(connection=xero, redirect_uri=DEMO_XERO_CALLBACK)
        consent = requests.get(url, allow_redirects=False, timeout=10)
        xero_connect_finish(
            connection=xero,
            redirect_uri=DEMO_XERO_CALLBACK,
            callback_url=consent.headers["Location"],
            state=state,
        )
    flows = Flow.objects.filter(enabled=True, mapping__isnull=False).order_by("pk")
    return [flow_run_enqueue(flow=flow, trigger=Trigger.MANUAL) for flow in flows]


def demo_runs_finished(*, since: datetime, shown: set[int]) -> list[SyncRun]:
    """Runs finished since ``since`` and not yet in ``shown`` (which it extends), oldest
    first: ``manage.py up`` prints one line for each instead of the workers' logs."""
    runs = list(
        SyncRun.objects.filter(finished_at__gte=since)
        .exclude(pk__in=shown)
        .select_related("flow__pair")
        .order_by("finished_at", "pk")
    )
    shown.update(run.pk for run in runs)
    return runs
