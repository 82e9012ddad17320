"""The entity catalogue in the mapping admin, and fetching a try-it sample from the source.

Real SYSPRO and Xero sandboxes over HTTP; connections made as the admin makes them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from html import unescape

import pytest
import requests
from django.core.cache import cache
from django.urls import reverse

from connectors.base import EntitySchema, FieldSpec
from connectors.models import Connection
from connectors.services import xero_connect_finish, xero_connect_start
from mappings import catalogue
from mappings.engine import condition_fields
from mappings.models import FieldMappingRow, Mapping
from tests.mappings.factories import (
    ConditionalRuleFactory,
    FieldMappingRowFactory,
    LookupTableFactory,
    MappingFactory,
)

pytestmark = pytest.mark.django_db

XERO_CALLBACK = "http://localhost:8000/admin/connectors/connection/xero/callback/"
PREFIXES = (
    "fieldmappingrows",
    "conditionalrules",
    "enrichments",
    "defaults",
    "aggregations",
    "splits",
)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _syspro_connection(url: str, name: str = "SYSPRO") -> Connection:
    return Connection.objects.create(
        name=name,
        system="syspro",
        base_url=url,
        settings={"company_id": "EDU1", "operator": "ADMIN"},
        credentials={"operator_password": "demo", "company_password": "demo"},
    )


@pytest.fixture
def syspro(sandbox) -> Connection:
    return _syspro_connection(sandbox("syspro").url)


@pytest.fixture
def xero(sandbox) -> Connection:
    connection = Connection.objects.create(
        name="Xero",
        system="xero",
        base_url=sandbox("xero").url,
        credentials={"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
    )
    url, state = xero_connect_start(connection=connection, redirect_uri=XERO_CALLBACK)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    xero_connect_finish(
        connection=connection,
        redirect_uri=XERO_CALLBACK,
        callback_url=consent.headers["Location"],
        state=state,
    )
    return connection


def _post_data(rows=(), parts=None, **mapping: str) -> dict[str, str]:
    data = {
        "name": "Customers",
        "description": "",
        "source_system": "SYSPRO",
        "source_entity": "customers",
        "target_system": "Xero",
        "target_entity": "Contacts",
    } | mapping
    parts = {"fieldmappingrows": rows, **(parts or {})}
    for prefix in PREFIXES:
        items = parts.get(prefix, ())
        data |= {
            f"{prefix}-TOTAL_FORMS": str(len(items)),
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
        for i, item in enumerate(items):
            data |= {f"{prefix}-{i}-{k}": v for k, v in item.items()}
    return data


def _row(sources: str, targets: str, kind: str = "direct") -> dict[str, str]:
    return {
        "order": "1",
        "kind": kind,
        "sources": sources,
        "targets": targets,
        "transforms": "[]",
        "template": "",
        "combine": "join",
        "separator": " ",
    }


def _add(client, rows, parts=None, **mapping):
    return client.post(reverse("admin:mappings_mapping_add"), _post_data(rows, parts, **mapping))


def _row_errors(response, n: int = 0, prefix: str = "fieldmappingrows") -> dict[str, list[str]]:
    formset = next(
        f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == prefix
    )
    return formset.forms[n].errors


# Checking paths on save ---------------------------------------------------------


def test_typo_in_a_source_field_is_an_error_with_a_suggestion(consultant_client, syspro, xero):
    response = _add(consultant_client, [_row("Customer", "ContactNumber"), _row("Nmae", "Name")])
    assert response.status_code == 200
    errors = _row_errors(response, 1)
    assert "'Nmae'" in errors["sources"][0] and "Did you mean 'Name'" in errors["sources"][0]
    assert "targets" not in errors
    assert not _row_errors(response, 0)
    assert "nothing was saved" in unescape(response.content.decode())
    assert not Mapping.objects.exists() and not FieldMappingRow.objects.exists()


def test_typo_in_a_target_field_is_an_error_on_targets(consultant_client, syspro, xero):
    response = _add(consultant_client, [_row("Email", "EmailAdress")])
    errors = _row_errors(response)
    assert "EmailAdress" in errors["targets"][0] and "'EmailAddress'" in errors["targets"][0]
    assert not Mapping.objects.exists()


def test_line_paths_are_checked_by_their_array_field(consultant_client, syspro, xero):
    good = _add(
        consultant_client,
        [
            _row("SorDetail[].MStockCode", "LineItems[].AccountCode"),
            _row("Customer", "Contact.ContactNumber"),
        ],
        source_entity="sales_orders",
        target_entity="Invoices",
    )
    assert good.status_code == 302, good.context and good.context["errors"]
    bad = _add(
        consultant_client,
        [_row("SorDetial[].MStockCode", "LineItem[].AccountCode")],
        name="Orders 2",
        source_entity="sales_orders",
        target_entity="Invoices",
    )
    errors = _row_errors(bad)
    assert "'SorDetail'" in errors["sources"][0]
    assert "'LineItems'" in errors["targets"][0]
    assert Mapping.objects.count() == 1


def test_line_and_nested_paths_are_checked_as_far_as_the_entities_are_described(
    consultant_client, syspro, xero
):
    # SYSPRO describes a whole journal's lines as its GenJournalDetail entity, and
    # Xero an invoice's Contact as one of its Contacts; Xero's LineItems it does not.
    rows = [
        _row("GenJournalDetail[].GlCod", "LineItems[].AccountCode"),
        _row("Journal", "Contact.Nmae"),
        _row("GenJournalDetail[].EntryValue", "LineItems[].Anything.At.All"),
    ]
    response = _add(
        consultant_client, rows, source_entity="gl_whole_journals", target_entity="Invoices"
    )
    source = _row_errors(response, 0)["sources"][0]
    assert "SYSPRO GenJournalDetail (the GenJournalDetail of gl_whole_journals)" in source
    assert "no field 'GlCod' (in 'GenJournalDetail[].GlCod')" in source
    assert "Did you mean 'GlCode'" in source
    target = _row_errors(response, 1)["targets"][0]
    assert "Xero Contacts (the Contact of Invoices) has no field 'Nmae'" in target
    assert "Did you mean 'Name'?" in target
    assert not _row_errors(response, 2)
    assert not Mapping.objects.exists()


def _rule(condition: str, effect: str = "skip", target: str = "") -> dict[str, str]:
    return {
        "order": "1",
        "condition": condition,
        "effect": effect,
        "target": target,
        "value": "x",
        "message": "",
    }


def test_enrichments_defaults_and_rules_are_checked_on_their_own_fields(
    consultant_client, syspro, xero
):
    table = LookupTableFactory(name="Accounts")
    parts = {
        "conditionalrules": [
            _rule("OnHold == 'Y' and len(Nmae) > 3", "skip"),
            _rule("Name == 'x'", "set", target="AccountNumbr"),
        ],
        "enrichments": [
            {"order": "1", "target": "TaxNumbr", "key": "Customer", "lookup": str(table.pk)},
            {"order": "2", "target": "TaxNumber", "key": "Custmer", "lookup": str(table.pk)},
        ],
        "defaults": [{"target": "DefaultCurency", "value": "GBP"}],
    }
    response = _add(consultant_client, [_row("Customer", "ContactNumber")], parts)
    assert response.status_code == 200
    condition = _row_errors(response, 0, "conditionalrules")["condition"]
    assert "SYSPRO customers has no field 'OnHold'" in condition[0]
    assert "'Nmae'" in condition[1] and "Did you mean 'Name'?" in condition[1]
    assert (
        "Xero Contacts has no field 'AccountNumbr'"
        in (_row_errors(response, 1, "conditionalrules")["target"][0])
    )
    assert "'TaxNumbr'" in _row_errors(response, 0, "enrichments")["target"][0]
    assert "'Custmer'" in _row_errors(response, 1, "enrichments")["key"][0]
    assert "'DefaultCurency'" in _row_errors(response, 0, "defaults")["target"][0]
    assert not _row_errors(response, 0)
    assert "nothing was saved" in unescape(response.content.decode())
    assert not Mapping.objects.exists()


def test_a_rule_saved_on_its_own_page_is_checked_too(consultant_client, syspro):
    mapping = MappingFactory(source_system="SYSPRO", source_entity="customers")
    rule = ConditionalRuleFactory(mapping=mapping, condition="Name == 'x'", effect="skip")
    url = reverse("admin:mappings_conditionalrule_change", args=[rule.pk])
    data = {
        "mapping": str(mapping.pk),
        "order": "0",
        "condition": "Nam == 'x'",
        "effect": "skip",
        "target": "",
        "value": "",
        "message": "",
    }
    response = consultant_client.post(url, data)
    assert response.status_code == 200
    assert "'Name'" in response.context["adminform"].form.errors["condition"][0]


def test_nested_paths_stop_being_checked_where_the_catalogue_stops():
    journal = EntitySchema(
        "GenJournal",
        (FieldSpec("Journal", "integer"), FieldSpec("Lines", "array"), FieldSpec("Memo", "string")),
        "Journal",
    )
    lines = EntitySchema("Lines", (FieldSpec("GlCode", "string"), FieldSpec("Tags", "array")), "")
    asked: list[str] = []

    def describe(name: str) -> EntitySchema | None:
        asked.append(name)
        return lines if name == "Lines" else None

    known = catalogue.Catalogue("SYSPRO", "GenJournal", journal, describe)
    assert catalogue.unknown_field(known, "Lines[].GlCode") is None
    assert catalogue.unknown_field(known, "Lines[0].GlCode") is None
    assert "SYSPRO Lines (the Lines of GenJournal) has no field 'GlCod'" in (
        catalogue.unknown_field(known, "Lines[].GlCod")
    )
    assert catalogue.unknown_field(known, "Lines[].Tags[].Anything") is None  # not described
    assert catalogue.unknown_field(known, "Memo.Anything") is None  # text has no fields known
    assert "no field 'Jornal'" in catalogue.unknown_field(known, "Jornal.Anything")
    assert asked == ["Lines"] * 4 + ["Tags"]  # "Tags" is plural already: asked once


def test_rule_conditions_name_their_fields():
    assert condition_fields(
        "Status == '9' and len(Contact.Name) > 3 or Lines[0].Qty > 1 and upper(Area) in ('A',)"
    ) == ["Status", "Contact.Name", "Lines[0].Qty", "Area"]
    assert condition_fields("Status ==") == []


def test_without_a_connection_or_a_known_entity_nothing_is_checked(consultant_client, syspro):
    response = _add(consultant_client, [_row("Anything", "Whatever")], source_system="SAP")
    assert response.status_code == 302
    response = _add(
        consultant_client,
        [_row("Anything", "Whatever")],
        name="Unknown entity",
        source_entity="widgets",
    )
    assert response.status_code == 302  # SYSPRO has no "widgets"; Xero has no connection
    assert Mapping.objects.count() == 2


def test_catalogue_of_an_unreachable_system_is_no_catalogue(db):
    Connection.objects.create(name="SF", system="salesforce", base_url=f"http://{_closed()}")
    assert catalogue.catalogue_for(system="Salesforce", entity="Account") is None


def test_a_row_saved_on_its_own_page_is_checked_too(consultant_client, syspro):
    mapping = MappingFactory(source_system="SYSPRO", source_entity="customers")
    row = FieldMappingRowFactory(mapping=mapping, sources=["Customer"], targets=["Code"])
    url = reverse("admin:mappings_fieldmappingrow_change", args=[row.pk])
    data = {
        "mapping": str(mapping.pk),
        "order": "0",
        "kind": "direct",
        "sources": "Custmer",
        "targets": "Code",
        "transforms": "[]",
        "template": "",
        "combine": "join",
        "separator": " ",
    }
    response = consultant_client.post(url, data)
    assert response.status_code == 200
    assert "'Customer'" in response.context["adminform"].form.errors["sources"][0]
    row.refresh_from_db()
    assert row.sources == ["Customer"]


def test_relationship_paths_are_not_flagged_where_the_schema_says_records_carry_them():
    """The connector's describe says so (Salesforce's does), not the system's name."""
    fields = (FieldSpec("AccountId", "string"),)
    schema = EntitySchema("Opportunity", fields, "Id", relationship_paths=True)
    sf = catalogue.Catalogue("Salesforce", "Opportunity", schema)
    assert catalogue.unknown_field(sf, "Account.ExternalID__c") is None
    assert catalogue.unknown_field(sf, "OpportunityLineItems[].Quantity") is None
    assert "'AccountId'" in catalogue.unknown_field(sf, "AccountI")
    # Named Salesforce but described without relationships: every unknown segment is flagged.
    plain = catalogue.Catalogue(
        "Salesforce", "Opportunity", EntitySchema("Opportunity", fields, "Id")
    )
    assert "'Account'" in catalogue.unknown_field(plain, "Account.ExternalID__c")


# Showing the catalogue ----------------------------------------------------------


def test_change_page_shows_both_catalogues_and_datalists(consultant_client, syspro, xero):
    mapping = MappingFactory(source_entity="customers", target_entity="Contacts")
    FieldMappingRowFactory(mapping=mapping, sources=["Name"], targets=["Name"])
    response = consultant_client.get(reverse("admin:mappings_mapping_change", args=[mapping.pk]))
    html = unescape(response.content.decode())
    assert "Fields of SYSPRO customers / Xero Contacts" in html
    assert "<code>CreditLimit</code></td><td>number</td>" in html
    assert "<code>Name</code></td><td>string</td><td>yes</td>" in html
    assert '<datalist id="mapping-source-fields">' in html
    assert 'list="mapping-source-fields"' in html
    assert '<option value="EmailAddress">' in html


def test_change_page_without_connections_has_no_catalogue(consultant_client):
    mapping = MappingFactory(source_entity="customers", target_entity="Contacts")
    response = consultant_client.get(reverse("admin:mappings_mapping_change", args=[mapping.pk]))
    assert response.status_code == 200
    assert "mapping-catalogue" not in response.content.decode()


# Fetching a sample from the source system ---------------------------------------


def _try_url(mapping: Mapping) -> str:
    return reverse("admin:mappings_mapping_try", args=[mapping.pk])


def test_fetching_a_customer_fills_the_sample(consultant_client, syspro):
    mapping = MappingFactory(source_entity="customers", target_entity="Contacts")
    page = consultant_client.get(_try_url(mapping))
    assert "Fetch one from SYSPRO customers" in page.content.decode()
    response = consultant_client.post(
        _try_url(mapping),
        {"fetch": "Fetch", "fetch-connection": str(syspro.pk), "fetch-key": "0000001"},
    )
    assert response.status_code == 200
    sample = response.context["form"].initial["record"]
    assert '"Customer": "0000001"' in sample and '"Name":' in sample
    assert "0000001" in unescape(response.content.decode())
    assert response.context["fetch_error"] is None
    # and the filled sample tries as usual
    FieldMappingRowFactory(mapping=mapping, sources=["Name"], targets=["Name"])
    tried = consultant_client.post(_try_url(mapping), {"record": sample})
    assert tried.context["result"].records[0]["Name"]


def test_fetching_an_unknown_key_says_not_found(consultant_client, syspro):
    mapping = MappingFactory(source_entity="customers", target_entity="Contacts")
    response = consultant_client.post(
        _try_url(mapping),
        {"fetch": "Fetch", "fetch-connection": str(syspro.pk), "fetch-key": "9999999"},
    )
    html = unescape(response.content.decode())
    assert "'9999999' was not found" in html
    assert not response.context["form"].initial


def test_fetching_from_an_unreachable_system_is_a_plain_error(consultant_client):
    connection = _syspro_connection(f"http://{_closed()}", name="SYSPRO down")
    mapping = MappingFactory(source_entity="customers", target_entity="Contacts")
    response = consultant_client.post(
        _try_url(mapping),
        {"fetch": "Fetch", "fetch-connection": str(connection.pk), "fetch-key": "0000001"},
    )
    assert "could not be reached" in response.context["fetch_error"]


def test_only_connections_of_the_source_system_can_be_chosen(consultant_client, syspro, xero):
    mapping = MappingFactory(source_entity="customers", target_entity="Contacts")
    response = consultant_client.post(
        _try_url(mapping),
        {"fetch": "Fetch", "fetch-connection": str(xero.pk), "fetch-key": "0000001"},
    )
    assert response.context["fetch_form"].errors["connection"]


def test_no_fetch_form_without_a_source_connection(consultant_client):
    mapping = MappingFactory(source_entity="customers", target_entity="Contacts")
    response = consultant_client.get(_try_url(mapping))
    assert "Fetch one from" not in response.content.decode()


def _closed() -> str:
    """A loopback address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_a_rule_skipping_lines_is_checked_against_the_line_fields(consultant_client, syspro, xero):
    """Its condition reads one line (GlCode), not the header (where GlCode is unknown)."""
    rows = [_row("GenJournalDetail[].GlCode", "LineItems[].AccountCode")]
    journals = {"source_entity": "gl_whole_journals", "target_entity": "Invoices"}
    good = _add(
        consultant_client,
        rows,
        {"conditionalrules": [_rule("GlCode == '10-1000'", target="GenJournalDetail[]")]},
        **journals,
    )
    assert good.status_code == 302, good.context and good.context["errors"]
    bad = _add(
        consultant_client,
        rows,
        {"conditionalrules": [_rule("GlCod == '10-1000'", target="GenJournalDetail[]")]},
        name="Journals 2",
        **journals,
    )
    (error,) = _row_errors(bad, 0, "conditionalrules")["condition"]
    assert "no field 'GlCod' (in 'GenJournalDetail[].GlCod')" in error
    assert "Did you mean 'GlCode'" in error
    assert Mapping.objects.count() == 1
