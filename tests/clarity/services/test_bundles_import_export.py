"""Configuration bundles: shipped templates, export, import with a preview, promotion."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from clarity.forms import TEMPLATE_DIR
from clarity.models import Flow, IntegrationPair, ReconciliationSetting
from clarity.services.bundles import (
    FLOW_FIELDS,
    FLOW_NOT_CARRIED,
    FLOW_OPTIONAL_FIELDS,
    bundle_export,
    bundle_import,
    bundle_preview,
)
from clarity.services.flows import flow_matching_rules, flow_matching_rules_set
from clarity.services.reconciliation import reconciliation_setting_save
from mappings.models import LookupTable, Mapping
from mappings.services import mapping_compile
from tests.clarity.conftest import connect_xero
from tests.clarity.reconciliation import ORDER_SETTING
from tests.factories import ConnectionFactory

IMPORT_URL = reverse("admin:clarity_integrationpair_import")


def template() -> dict:
    return json.loads((TEMPLATE_DIR / "syspro_xero.json").read_text())


@pytest.fixture
def connections(db):
    return {
        "a": ConnectionFactory(name="SYSPRO test", system="syspro"),
        "b": ConnectionFactory(
            name="Xero test", system="xero", credentials={"client_secret": "never-exported"}
        ),
    }


def test_a_consultant_previews_then_applies_a_shipped_template(consultant_client, connections):
    form = {
        "template": "syspro_xero.json",
        "pair_name": "SYSPRO ↔ Xero",
        "connection_a": connections["a"].pk,
        "connection_b": connections["b"].pk,
    }
    preview = consultant_client.post(IMPORT_URL, form)
    assert preview.status_code == 200
    changes = {(c.kind, c.name): c.action for c in preview.context["changes"]}
    assert changes[("flow", "Sales orders → Invoices")] == "create"
    assert changes[("lookup table", "SYSPRO stock code → Xero account code")] == "create"
    assert not IntegrationPair.objects.exists()  # a preview writes nothing

    applied = consultant_client.post(IMPORT_URL, {"apply": "1"}, follow=True)
    assert "Imported the configuration" in applied.content.decode()
    pair = IntegrationPair.objects.get(name="SYSPRO ↔ Xero")
    flows = Flow.objects.filter(pair=pair)
    assert {f.name for f in flows} == {
        "Customers → Contacts",
        "Stock items → Items",
        "Sales orders → Invoices",
        "Payments → AR payments",
        "GL journals → Manual journals",
    }
    from_syspro = flows.exclude(name="Payments → AR payments")
    assert all(f.source_connection == connections["a"] for f in from_syspro)
    assert flows.get(name="Payments → AR payments").source_connection == connections["b"]
    stock = LookupTable.objects.get(name="SYSPRO stock code → Xero account code")
    assert stock.entries.count() == 221
    assert LookupTable.objects.count() == 6
    for mapping in Mapping.objects.all():
        mapping_compile(mapping=mapping)  # what was imported compiles


def test_export_round_trips_and_never_carries_credentials(connections):
    pair = bundle_import(bundle=template(), connections=connections, pair_name="SYSPRO ↔ Xero")
    exported = bundle_export(pair=pair)
    assert "never-exported" not in json.dumps(exported)
    changes = bundle_preview(bundle=exported, connections=connections, pair_name=pair.name)
    assert {c.action for c in changes} == {"unchanged"}


def test_promoting_to_production_connections_shows_what_changes(connections):
    bundle_import(bundle=template(), connections=connections, pair_name="SYSPRO ↔ Xero")
    production = {
        "a": ConnectionFactory(name="SYSPRO live", system="syspro", environment="production"),
        "b": ConnectionFactory(
            name="Xero live",
            system="xero",
            environment="production",
            base_url="https://api.xero.com/api.xro/2.0",
        ),
    }
    changes = bundle_preview(bundle=template(), connections=production, pair_name="SYSPRO ↔ Xero")
    pair_change = next(c for c in changes if c.kind == "pair")
    assert pair_change.action == "change"
    assert any("SYSPRO live" in line for line in pair_change.details)
    pair = bundle_import(bundle=template(), connections=production, pair_name="SYSPRO ↔ Xero")
    assert set(pair.flows.values_list("source_connection__name", flat=True)) == {
        "SYSPRO live",
        "Xero live",
    }


def test_the_retention_period_travels_with_the_bundle(connections):
    pair = bundle_import(bundle=template(), connections=connections, pair_name="SYSPRO ↔ Xero")
    pair.retention_days = 90
    pair.save()
    exported = bundle_export(pair=pair)
    assert exported["pair"]["retention_days"] == 90

    staging = {
        "a": ConnectionFactory(name="SYSPRO staging", system="syspro"),
        "b": ConnectionFactory(name="Xero staging", system="xero"),
    }
    copy = bundle_import(bundle=exported, connections=staging, pair_name="Staging")
    assert copy.retention_days == 90
    exported["pair"]["retention_days"] = 30
    changes = bundle_preview(bundle=exported, connections=staging, pair_name="Staging")
    pair_change = next(c for c in changes if c.kind == "pair")
    assert pair_change.details == ["retention_days: 90 → 30"]


def test_a_bad_retention_period_imports_nothing(connections):
    broken = template()
    broken["pair"]["retention_days"] = 0
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        bundle_import(bundle=broken, connections=connections, pair_name="SYSPRO ↔ Xero")
    assert not IntegrationPair.objects.exists()
    assert not Mapping.objects.exists()


def test_a_bundle_for_other_systems_is_refused(connections):
    wrong = {"a": connections["b"], "b": connections["a"]}
    with pytest.raises(ValidationError, match="expects a syspro connection"):
        bundle_import(bundle=template(), connections=wrong, pair_name="x")
    assert not IntegrationPair.objects.exists()


def test_a_bundle_that_does_not_compile_imports_nothing(connections):
    broken = template()
    orders = next(
        m for m in broken["mappings"] if m["name"] == "SYSPRO sales orders → Xero invoices"
    )
    orders["rules"][0]["condition"] = "OrderStatus in ("
    with pytest.raises(ValidationError, match="does not compile"):
        bundle_import(bundle=broken, connections=connections, pair_name="SYSPRO ↔ Xero")
    assert not IntegrationPair.objects.exists()
    assert not Mapping.objects.exists()
    assert not LookupTable.objects.exists()


def test_not_a_bundle_is_a_form_error(consultant_client, connections):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = consultant_client.post(
        IMPORT_URL,
        {
            "file": SimpleUploadedFile("x.json", b"{not json"),
            "pair_name": "p",
            "connection_a": connections["a"].pk,
            "connection_b": connections["b"].pk,
        },
    )
    assert "This file is not JSON" in response.content.decode()


def test_finance_cannot_import(finance_client):
    assert finance_client.get(IMPORT_URL).status_code == 403


def _hostile_bundles() -> list[bytes]:
    good = template()
    bundles = [
        b'{"format": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",  # RecursionError in json.loads
        b'{"n": ' + b"9" * 5_000 + b"}",  # past the int digit limit
        b'{"n": NaN}',
        b'{"n": 1e400}',
    ]
    for change in (
        lambda b: b["pair"].update(systems=["syspro", "xero"]),  # .items() on a list
        lambda b: b.update(pair="SYSPRO"),
        lambda b: b["mappings"][0].pop("name"),
        lambda b: b.update(flows={"name": "x"}),
        lambda b: b["lookup_tables"].append("not an object"),
        lambda b: b["pair"].update(description="a\u0000b"),  # NUL: jsonb cannot store it
    ):
        bundle = json.loads(json.dumps(good))
        change(bundle)
        bundles.append(json.dumps(bundle).encode())
    return bundles


@pytest.mark.parametrize("body", _hostile_bundles())
def test_a_hostile_bundle_is_a_form_error_and_changes_nothing(consultant_client, connections, body):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = consultant_client.post(
        IMPORT_URL,
        {
            "file": SimpleUploadedFile("x.json", body),
            "pair_name": "p",
            "connection_a": connections["a"].pk,
            "connection_b": connections["b"].pk,
        },
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode() or "errornote" in response.content.decode()
    assert not IntegrationPair.objects.exists()
    assert not Mapping.objects.exists()


def test_every_flow_setting_travels_with_the_bundle():
    """A flow field added later must be carried, or be named as state a bundle leaves out."""
    editable = {f.name for f in Flow._meta.get_fields() if f.editable and not f.auto_created}
    assert editable - FLOW_NOT_CARRIED == {*FLOW_FIELDS, *FLOW_OPTIONAL_FIELDS}


def test_how_a_flow_reads_travels_with_the_bundle(connections):
    pair = bundle_import(bundle=template(), connections=connections, pair_name="SYSPRO ↔ Xero")
    flow = pair.flows.get(source_entity="customers")
    Flow.objects.filter(pk=flow.pk).update(read_mode="full_scan", change_field="DateLastSale")
    exported = bundle_export(pair=pair)

    copy = bundle_import(bundle=exported, connections=connections, pair_name="Copy")

    again = copy.flows.get(name=flow.name)
    assert (again.read_mode, again.change_field) == ("full_scan", "DateLastSale")


def test_matching_rules_and_reconciliation_travel_with_the_bundle(db, sandbox):
    """A pair's matching rules and reconciliation settings are configuration: exported,
    previewed and imported with the flows, each checked against the target's fields."""
    xero = ConnectionFactory(system="xero", base_url=sandbox("xero").url,
                             credentials={"client_id": "sandbox-client-id",
                                          "client_secret": "sandbox-client-secret"})  # fmt: skip
    connect_xero(xero)
    connections = {"a": ConnectionFactory(name="SYSPRO test", system="syspro"), "b": xero}
    pair = bundle_import(bundle=template(), connections=connections, pair_name="SYSPRO ↔ Xero")
    customers = pair.flows.get(name="Customers → Contacts")
    rules = [
        {"position": 1, "match_by": "reference", "keys": "", "enabled": True},
        {"position": 2, "match_by": "keys", "keys": "Name, EmailAddress", "enabled": True},
    ]
    flow_matching_rules_set(flow=customers, rules=rules, user=None)
    orders = pair.flows.get(name="Sales orders → Invoices")
    reconciliation_setting_save(flow=orders, data=dict(ORDER_SETTING), user=None)

    exported = bundle_export(pair=pair)
    by_name = {flow["name"]: flow for flow in exported["flows"]}
    assert by_name[customers.name]["matching_rules"] == rules
    assert by_name[orders.name]["reconciliation"]["target_amount_field"] == "SubTotal"
    assert {c.action for c in bundle_preview(bundle=exported, connections=connections,
                                             pair_name=pair.name)} == {"unchanged"}  # fmt: skip

    copy = bundle_import(bundle=exported, connections=connections, pair_name="Copy")
    assert flow_matching_rules(copy.flows.get(name=customers.name)) == rules
    assert (
        ReconciliationSetting.objects.get(flow__pair=copy, flow__name=orders.name).period
        == (ORDER_SETTING["period"])
    )

    by_name[customers.name]["matching_rules"][1]["keys"] = "Name, Emial"
    changes = bundle_preview(bundle=exported, connections=connections, pair_name="Copy")
    flow_change = next(c for c in changes if c.name == customers.name)
    assert flow_change.action == "change" and "matching rules → 2" in flow_change.details
    with pytest.raises(ValidationError, match="Matching rule 2"):
        bundle_import(bundle=exported, connections=connections, pair_name="Copy")
    # Refused whole: the copy keeps its rules as they were.
    assert flow_matching_rules(copy.flows.get(name=customers.name)) == rules
