"""The mapping admin: compile errors on the right row and field, try it, permissions."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from mappings.models import FieldMappingRow, Mapping
from tests.mappings.factories import (
    ConditionalRuleFactory,
    FieldMappingRowFactory,
    LookupEntryFactory,
    LookupTableFactory,
    MappingFactory,
)

pytestmark = pytest.mark.django_db

PREFIXES = (
    "fieldmappingrows",
    "conditionalrules",
    "enrichments",
    "defaults",
    "aggregations",
    "splits",
)


def _post_data(rows=(), rules=()) -> dict[str, str]:
    data = {
        "name": "Orders",
        "description": "",
        "source_system": "SYSPRO",
        "source_entity": "sales_orders",
        "target_system": "Xero",
        "target_entity": "Invoices",
    }
    for prefix in PREFIXES:
        items = {"fieldmappingrows": rows, "conditionalrules": rules}.get(prefix, ())
        data |= {
            f"{prefix}-TOTAL_FORMS": str(len(items)),
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
        for i, item in enumerate(items):
            data |= {f"{prefix}-{i}-{k}": v for k, v in item.items()}
    return data


def _row(**fields: str) -> dict[str, str]:
    return {
        "order": "1",
        "kind": "direct",
        "sources": "Customer",
        "targets": "Contact.Name",
        "transforms": "[]",
        "template": "",
        "combine": "join",
        "separator": " ",
    } | fields


def _add(client, **kwargs):
    return client.post(reverse("admin:mappings_mapping_add"), _post_data(**kwargs))


def test_valid_mapping_saves_with_its_rows(consultant_client):
    response = _add(consultant_client, rows=[_row(transforms='[{"name": "trim"}]')])
    assert response.status_code == 302, response.context["errors"]
    mapping = Mapping.objects.get()
    assert mapping.fieldmappingrows.get().transforms == [{"name": "trim", "args": {}}]
    assert mapping.version == 2


def test_unknown_transform_is_an_error_on_the_rows_transforms(consultant_client):
    response = _add(consultant_client, rows=[_row(transforms='[{"name": "shout"}]')])
    assert response.status_code == 200
    formset = next(
        f
        for f in response.context["inline_admin_formsets"]
        if f.formset.prefix == "fieldmappingrows"
    )
    errors = formset.formset.forms[0].errors["transforms"]
    assert "shout" in errors[0]
    assert not Mapping.objects.exists() and not FieldMappingRow.objects.exists()


def test_bad_transform_args_name_the_arg(consultant_client):
    response = _add(
        consultant_client,
        rows=[_row(transforms='[{"name": "decimal", "args": {"places": "two"}}]')],
    )
    formset = response.context["inline_admin_formsets"][0].formset
    assert "places" in formset.forms[0].errors["transforms"][0]
    assert not Mapping.objects.exists()


def test_xero_json_dates_are_a_source_date_format_only(consultant_client):
    xero_date = '[{"name": "date", "args": {"from": "XERO", "to": "DD/MM/YYYY"}}]'
    response = _add(consultant_client, rows=[_row(sources="Date", transforms=xero_date)])
    assert response.status_code == 302, response.context["errors"]
    written = '[{"name": "date", "args": {"from": "DD/MM/YYYY", "to": "XERO"}}]'
    response = _add(consultant_client, rows=[_row(transforms=written)])
    formset = response.context["inline_admin_formsets"][0].formset
    assert "XERO is a source format only" in formset.forms[0].errors["transforms"][0]


def test_unknown_lookup_table_is_named(consultant_client):
    LookupTableFactory(name="Tax codes")
    response = _add(
        consultant_client,
        rows=[_row(transforms='[{"name": "lookup", "args": {"table": "Payment methods"}}]')],
    )
    message = response.context["inline_admin_formsets"][0].formset.forms[0].errors["transforms"][0]
    assert 'no lookup table "Payment methods"' in message and "Tax codes" in message


def test_bad_rule_expression_is_an_error_on_its_condition(consultant_client):
    rule = {
        "order": "1",
        "condition": "Amount >",
        "effect": "skip",
        "target": "",
        "value": "",
        "message": "x",
    }
    response = _add(consultant_client, rows=[_row()], rules=[rule])
    rules = next(
        f
        for f in response.context["inline_admin_formsets"]
        if f.formset.prefix == "conditionalrules"
    )
    assert rules.formset.forms[0].errors["condition"]
    assert not Mapping.objects.exists()


def test_row_kind_must_match_its_paths(consultant_client):
    response = _add(consultant_client, rows=[_row(kind="many_to_one")])
    assert "kind" in response.context["inline_admin_formsets"][0].formset.forms[0].errors


def test_try_it_shows_records_provenance_and_problems(consultant_client):
    table = LookupTableFactory(name="Pay")
    LookupEntryFactory(table=table, key="EFT", value="090")
    mapping = MappingFactory()
    FieldMappingRowFactory(mapping=mapping, sources=["Customer"], targets=["Contact.Name"])
    FieldMappingRowFactory(
        mapping=mapping,
        sources=["PayMethod"],
        targets=["BankAccount"],
        transforms=[{"name": "lookup", "args": {"table": "Pay"}}],
    )
    ConditionalRuleFactory(mapping=mapping)
    url = reverse("admin:mappings_mapping_try", args=[mapping.pk])
    ok = consultant_client.post(
        url, {"record": '{"Customer": "Acme", "PayMethod": "EFT", "OrderStatus": "Shipped"}'}
    )
    body = unescape(ok.content.decode())
    assert '"Name": "Acme"' in body and '"BankAccount": "090"' in body
    assert "row 1: Customer → Contact.Name" in body and "rule 1" in body
    bad = consultant_client.post(url, {"record": '{"Customer": "Acme", "PayMethod": "CHQ"}'})
    assert "No entry for 'CHQ' in the lookup table \"Pay\"" in unescape(bad.content.decode())
    broken = consultant_client.post(url, {"record": "{not json"})
    assert "This is not valid JSON" in broken.content.decode()


def test_change_page_links_to_try_it(consultant_client):
    mapping = MappingFactory()
    page = consultant_client.get(reverse("admin:mappings_mapping_change", args=[mapping.pk]))
    assert reverse("admin:mappings_mapping_try", args=[mapping.pk]) in page.content.decode()


@pytest.mark.parametrize(
    "name",
    [
        "admin:mappings_mapping_changelist",
        "admin:mappings_lookuptable_changelist",
        "admin:mappings_lookupentry_changelist",
    ],
)
def test_finance_cannot_see_mappings_or_lookups(finance_client, name):
    assert finance_client.get(reverse(name)).status_code == 403


def test_finance_cannot_try_a_mapping(finance_client):
    mapping = MappingFactory()
    assert (
        finance_client.get(reverse("admin:mappings_mapping_try", args=[mapping.pk])).status_code
        == 403
    )


def test_import_button_needs_add_permission(consultant_client, operator_client, consultant):
    url = reverse("admin:mappings_lookupentry_changelist")
    assert (
        reverse("admin:mappings_lookupentry_import") in consultant_client.get(url).content.decode()
    )
    from django.contrib.auth.models import Permission

    consultant.groups.first().permissions.remove(Permission.objects.get(codename="add_lookupentry"))
    page = consultant_client.get(url).content.decode()
    assert reverse("admin:mappings_lookupentry_import") not in page
    assert consultant_client.get(reverse("admin:mappings_lookupentry_import")).status_code == 403


def test_changelists_do_not_query_per_row(consultant_client, django_assert_max_num_queries):
    for _ in range(10):
        FieldMappingRowFactory()
        LookupEntryFactory()
    for name in (
        "admin:mappings_mapping_changelist",
        "admin:mappings_fieldmappingrow_changelist",
        "admin:mappings_lookupentry_changelist",
        "admin:mappings_lookuptable_changelist",
    ):
        with django_assert_max_num_queries(12):
            assert consultant_client.get(reverse(name)).status_code == 200
