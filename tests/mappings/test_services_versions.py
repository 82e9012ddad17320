"""Every path that changes a mapping or a lookup it uses makes running workers recompile.

A worker compiles a mapping once per version (``mapping_compile`` caches the
plan by it) and reads the mapping afresh for its next run; so a change that
leaves the version alone keeps the old plan — a deleted EFT → 090 entry still
mapped. Each test warms a worker's plan, changes the configuration one way, and
maps the next record as a worker would.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mappings import bundles, services
from mappings.engine import Outcome
from mappings.models import ConditionalRule, FieldMappingRow, LookupEntry, Mapping
from tests.mappings.factories import MappingFactory
from tests.mappings.helpers import bank, change_form_data, mapped

pytestmark = pytest.mark.django_db


def delete_selected(client, changelist: str, pks: list[int]):
    return client.post(
        reverse(changelist),
        {"action": "delete_selected", "_selected_action": pks, "post": "yes"},
    )


# The admin's bulk "Delete selected" -------------------------------------------


def test_bulk_deleting_lookup_entries(consultant_client, pay):
    response = delete_selected(
        consultant_client, "admin:mappings_lookupentry_changelist", [pay.eft.pk]
    )
    assert response.status_code == 302
    assert not LookupEntry.objects.filter(key="EFT").exists()
    assert mapped(pay.mapping.pk, "EFT").outcome == Outcome.FAILED


def test_bulk_deleting_rows(consultant_client, pay):
    response = delete_selected(
        consultant_client, "admin:mappings_fieldmappingrow_changelist", [pay.row.pk]
    )
    assert response.status_code == 302 and not FieldMappingRow.objects.exists()
    assert (
        bank(pay.mapping.pk, "EFT") is None
        or "BankAccount" not in mapped(pay.mapping.pk, "EFT").record
    )


def test_bulk_deleting_rules(consultant_client, pay):
    response = delete_selected(
        consultant_client, "admin:mappings_conditionalrule_changelist", [pay.rule.pk]
    )
    assert response.status_code == 302 and not ConditionalRule.objects.exists()
    assert bank(pay.mapping.pk, "CHQ") == "091"


# Change forms, delete pages, inlines ------------------------------------------


def test_changing_a_lookup_entry(consultant_client, pay):
    url = reverse("admin:mappings_lookupentry_change", args=[pay.eft.pk])
    data = change_form_data(consultant_client.get(url)) | {"value": "099"}
    assert consultant_client.post(url, data).status_code == 302
    assert bank(pay.mapping.pk, "EFT") == "099"


def test_deleting_a_lookup_entry_on_its_page(consultant_client, pay):
    url = reverse("admin:mappings_lookupentry_delete", args=[pay.eft.pk])
    assert consultant_client.post(url, {"post": "yes"}).status_code == 302
    assert mapped(pay.mapping.pk, "EFT").outcome == Outcome.FAILED


def test_deleting_a_lookup_entry_inline_on_its_table(consultant_client, pay):
    url = reverse("admin:mappings_lookuptable_change", args=[pay.table.pk])
    page = consultant_client.get(url)
    data = change_form_data(page)
    forms = page.context["inline_admin_formsets"][0].formset.forms
    eft = next(f for f in forms if f.instance.pk == pay.eft.pk)
    data[f"{eft.prefix}-DELETE"] = "on"
    assert consultant_client.post(url, data).status_code == 302
    assert mapped(pay.mapping.pk, "EFT").outcome == Outcome.FAILED


def test_changing_how_a_table_treats_missing_keys(consultant_client, pay):
    url = reverse("admin:mappings_lookuptable_change", args=[pay.table.pk])
    data = change_form_data(consultant_client.get(url))
    data |= {"on_missing": "default", "default_value": "100"}
    assert consultant_client.post(url, data).status_code == 302
    assert bank(pay.mapping.pk, "CARD") == "100"


def test_deleting_a_rule_inline_on_the_mapping(consultant_client, pay):
    url = reverse("admin:mappings_mapping_change", args=[pay.mapping.pk])
    page = consultant_client.get(url)
    data = change_form_data(page)
    data["conditionalrules-0-DELETE"] = "on"
    response = consultant_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert bank(pay.mapping.pk, "CHQ") == "091"


def test_changing_a_row_on_its_own_page(consultant_client, pay):
    url = reverse("admin:mappings_fieldmappingrow_change", args=[pay.row.pk])
    data = change_form_data(consultant_client.get(url)) | {"targets": "BankAccountCode"}
    assert consultant_client.post(url, data).status_code == 302
    assert mapped(pay.mapping.pk, "EFT").record == {"BankAccountCode": "090"}


def test_deleting_a_row_on_its_own_page(consultant_client, pay):
    url = reverse("admin:mappings_fieldmappingrow_delete", args=[pay.row.pk])
    assert consultant_client.post(url, {"post": "yes"}).status_code == 302
    assert "BankAccount" not in (mapped(pay.mapping.pk, "EFT").record or {})


# Imports and bundles ----------------------------------------------------------


def test_importing_lookup_entries_through_the_admin(consultant_client, pay):
    upload = SimpleUploadedFile("pay.csv", b"table,key,value\nPay,EFT,095\n")
    page = consultant_client.post(
        reverse("admin:mappings_lookupentry_import"), {"format": "0", "import_file": upload}
    )
    done = consultant_client.post(
        reverse("admin:mappings_lookupentry_process_import"),
        {**page.context["confirm_form"].initial, "format": "0"},
    )
    assert done.status_code == 302
    assert bank(pay.mapping.pk, "EFT") == "095"


def test_importing_mapping_rows_through_the_admin(consultant_client, pay):
    csv = (
        "id,mapping,order,kind,sources,targets,transforms,template,combine,separator\n"
        f'{pay.row.pk},{pay.mapping.name},1,direct,"[""PayMethod""]","[""BankAccountCode""]",'
        '"[{""name"": ""lookup"", ""args"": {""table"": ""Pay""}}]",,join," "\n'
    )
    upload = SimpleUploadedFile("rows.csv", csv.encode())
    page = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_import"), {"format": "0", "import_file": upload}
    )
    assert "confirm_form" in page.context, page.content.decode()[-3000:]
    done = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_process_import"),
        {**page.context["confirm_form"].initial, "format": "0"},
    )
    assert done.status_code == 302
    assert mapped(pay.mapping.pk, "EFT").record == {"BankAccountCode": "090"}


def test_applying_a_bundle_of_a_lookup_table_and_a_mapping(pay):
    table = bundles.lookup_table_export(pay.table)
    del table["entries"]["EFT"]
    bundles.lookup_table_apply(table)
    assert mapped(pay.mapping.pk, "EFT").outcome == Outcome.FAILED
    data = bundles.mapping_export(pay.mapping)
    data["rules"] = []
    bundles.mapping_apply(data)
    assert bank(pay.mapping.pk, "CHQ") == "091"


# Reverting from history -------------------------------------------------------


def test_reverting_a_lookup_entry_from_its_history(consultant_client, pay):
    first = pay.eft.history.earliest()
    services.lookup_entry_save(entry=LookupEntry(pk=pay.eft.pk, table=pay.table, key="EFT",
                                                 value="099"))  # fmt: skip
    assert bank(pay.mapping.pk, "EFT") == "099"
    url = reverse("admin:mappings_lookupentry_simple_history", args=[pay.eft.pk, first.pk])
    data = change_form_data(consultant_client.get(url))
    assert data["value"] == "090"
    assert consultant_client.post(url, data).status_code == 302
    assert bank(pay.mapping.pk, "EFT") == "090"


def test_reverting_a_row_from_its_history(consultant_client, pay):
    first = pay.row.history.earliest()
    pay.row.targets = ["BankAccountCode"]
    services.mapping_part_save(part=pay.row)
    assert mapped(pay.mapping.pk, "EFT").record == {"BankAccountCode": "090"}
    url = reverse("admin:mappings_fieldmappingrow_simple_history", args=[pay.row.pk, first.pk])
    data = change_form_data(consultant_client.get(url))
    assert consultant_client.post(url, data).status_code == 302
    assert bank(pay.mapping.pk, "EFT") == "090"


def test_mapping_version_goes_up_once_per_service_call(pay):
    before = Mapping.objects.get(pk=pay.mapping.pk).version
    services.lookup_entries_delete(entries=LookupEntry.objects.filter(key="CHQ"))
    assert Mapping.objects.get(pk=pay.mapping.pk).version == before + 1


# Moving a row to another mapping: the mapping it left changes too --------------


def test_moving_a_row_to_another_mapping_on_its_own_page(consultant_client, pay):
    other = MappingFactory()
    url = reverse("admin:mappings_fieldmappingrow_change", args=[pay.row.pk])
    data = change_form_data(consultant_client.get(url)) | {"mapping": str(other.pk)}
    response = consultant_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert FieldMappingRow.objects.get(pk=pay.row.pk).mapping_id == other.pk
    assert "BankAccount" not in (mapped(pay.mapping.pk, "EFT").record or {})
    assert bank(other.pk, "EFT") == "090"


def test_moving_a_row_to_another_mapping_by_importing_it(consultant_client, pay):
    other = MappingFactory()
    csv = (
        "id,mapping,order,kind,sources,targets,transforms,template,combine,separator\n"
        f'{pay.row.pk},{other.name},1,direct,"[""PayMethod""]","[""BankAccount""]",'
        '"[{""name"": ""lookup"", ""args"": {""table"": ""Pay""}}]",,join," "\n'
    )
    upload = SimpleUploadedFile("rows.csv", csv.encode())
    page = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_import"), {"format": "0", "import_file": upload}
    )
    assert "confirm_form" in page.context, page.content.decode()[-3000:]
    done = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_process_import"),
        {**page.context["confirm_form"].initial, "format": "0"},
    )
    assert done.status_code == 302
    assert FieldMappingRow.objects.get(pk=pay.row.pk).mapping_id == other.pk
    assert "BankAccount" not in (mapped(pay.mapping.pk, "EFT").record or {})
    assert bank(other.pk, "EFT") == "090"


def test_moving_a_row_back_by_reverting_it_from_its_history(consultant_client, pay):
    first = pay.row.history.earliest()
    other = MappingFactory()
    pay.row.mapping = other
    services.mapping_part_save(part=pay.row)
    assert "BankAccount" not in (mapped(pay.mapping.pk, "EFT").record or {})
    assert bank(other.pk, "EFT") == "090"  # the other mapping's plan is warm
    url = reverse("admin:mappings_fieldmappingrow_simple_history", args=[pay.row.pk, first.pk])
    data = change_form_data(consultant_client.get(url))
    assert data["mapping"] == str(pay.mapping.pk)
    assert consultant_client.post(url, data).status_code == 302
    assert bank(pay.mapping.pk, "EFT") == "090"
    assert "BankAccount" not in (mapped(other.pk, "EFT").record or {})
