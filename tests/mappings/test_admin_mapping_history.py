"""A mapping's history: every change of it, its rows, rules and lookups, and reverting it whole."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from mappings import services
from mappings.engine import Outcome
from mappings.models import ConditionalRule, Enrichment, LookupEntry, Mapping
from tests.mappings.helpers import bank, change_form_data, mapped

pytestmark = pytest.mark.django_db


def history_page(client, mapping) -> str:
    page = client.get(reverse("admin:mappings_mapping_history", args=[mapping.pk]))
    assert page.status_code == 200
    return unescape(page.content.decode())


def revert_url(mapping, record) -> str:
    return reverse("admin:mappings_mapping_simple_history", args=[mapping.pk, record.pk])


def edit_row_on_the_mapping_page(client, mapping, **fields: str) -> None:
    url = reverse("admin:mappings_mapping_change", args=[mapping.pk])
    data = change_form_data(client.get(url))
    data |= {f"fieldmappingrows-0-{name}": value for name, value in fields.items()}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["errors"]


def test_a_row_edit_shows_in_the_mappings_history_and_reverting_undoes_it(
    consultant_client, consultant, pay
):
    before = pay.mapping.history.latest()
    edit_row_on_the_mapping_page(consultant_client, pay.mapping, targets="BankAccountCode")
    assert mapped(pay.mapping.pk, "EFT").record == {"BankAccountCode": "090"}

    page = history_page(consultant_client, pay.mapping)
    assert "targets:</strong>\n                    BankAccount\n" in page
    assert "BankAccountCode" in page
    latest = pay.mapping.history.latest()
    assert latest.history_user == consultant

    preview = consultant_client.get(revert_url(pay.mapping, before))
    assert preview.status_code == 200
    text = unescape(preview.content.decode())
    assert "targets" in text and "BankAccountCode" in text
    assert bank(pay.mapping.pk, "EFT") is None  # a preview changes nothing

    version = Mapping.objects.get(pk=pay.mapping.pk).version
    done = consultant_client.post(revert_url(pay.mapping, before), follow=True)
    assert "is back as it was on" in unescape(done.content.decode())
    assert pay.mapping.fieldmappingrows.get().targets == ["BankAccount"]
    assert Mapping.objects.get(pk=pay.mapping.pk).version > version
    assert bank(pay.mapping.pk, "EFT") == "090"
    # the revert is itself a change in the history, with its diff
    assert pay.mapping.history.latest().history_change_reason.startswith("Reverted to")
    assert "BankAccountCode" in history_page(consultant_client, pay.mapping)


def test_revert_restores_rows_rules_enrichments_and_lookup_entries(consultant_client, pay):
    before = pay.mapping.history.latest()
    # a consultant adds an enrichment, deletes the rule and the EFT entry, edits the row
    url = reverse("admin:mappings_mapping_change", args=[pay.mapping.pk])
    data = change_form_data(consultant_client.get(url))
    data |= {
        "enrichments-TOTAL_FORMS": "1",
        "enrichments-0-order": "1",
        "enrichments-0-target": "Account",
        "enrichments-0-key": "PayMethod",
        "enrichments-0-lookup": str(pay.table.pk),
        "conditionalrules-0-DELETE": "on",
        "fieldmappingrows-0-targets": "Bank",
    }
    response = consultant_client.post(url, data)
    assert response.status_code == 302, response.context["errors"]
    consultant_client.post(
        reverse("admin:mappings_lookupentry_changelist"),
        {"action": "delete_selected", "_selected_action": [pay.eft.pk], "post": "yes"},
    )
    assert Enrichment.objects.count() == 1 and not ConditionalRule.objects.exists()
    assert mapped(pay.mapping.pk, "CHQ").record == {"Bank": "091", "Account": "091"}

    page = history_page(consultant_client, pay.mapping)
    assert "lookup Pay entry 'EFT'" in page and "deleted" in page
    assert "conditional rule" in page and "enrichment" in page

    consultant_client.post(revert_url(pay.mapping, before))
    assert not Enrichment.objects.exists()
    rule = ConditionalRule.objects.get()
    assert (rule.pk, rule.condition) == (pay.rule.pk, "PayMethod == 'CHQ'")
    assert LookupEntry.objects.get(key="EFT").value == "090"
    assert pay.mapping.fieldmappingrows.get().targets == ["BankAccount"]
    assert bank(pay.mapping.pk, "EFT") == "090"
    assert mapped(pay.mapping.pk, "CHQ").outcome == Outcome.SKIPPED
    # and each restored object has its own history again
    assert rule.history.latest().history_type == "+"


def test_revert_of_a_shared_lookup_names_the_other_mappings(consultant_client, pay):
    from tests.mappings.factories import FieldMappingRowFactory, MappingFactory

    other = MappingFactory(name="Refunds")
    FieldMappingRowFactory(mapping=other, sources=["PayMethod"], targets=["Bank"],
                           transforms=[{"name": "lookup", "args": {"table": "Pay"}}])  # fmt: skip
    services.mapping_touch(mapping=other)
    before = pay.mapping.history.latest()
    services.lookup_entries_delete(entries=LookupEntry.objects.filter(pk=pay.eft.pk))
    preview = unescape(consultant_client.get(revert_url(pay.mapping, before)).content.decode())
    assert "mappings Refunds will use the reverted entries too" in preview
    # the deletion shows in the history of both mappings
    assert "lookup Pay entry 'EFT'" in history_page(consultant_client, other)


def test_finance_cannot_revert(finance_client, pay):
    record = pay.mapping.history.latest()
    assert finance_client.post(revert_url(pay.mapping, record)).status_code == 403


def test_revert_restores_a_tables_settings_and_keeps_entries_it_knows_no_past_of(
    consultant_client, pay
):
    before = pay.mapping.history.latest()
    # an entry written in bulk before history was kept: when it appeared is unknown
    LookupEntry.objects.bulk_create([LookupEntry(table=pay.table, key="OLD", value="001")])
    pay.table.on_missing, pay.table.default_value = "default", "100"
    services.lookup_table_save(table=pay.table)
    assert bank(pay.mapping.pk, "CARD") == "100"
    preview = unescape(consultant_client.get(revert_url(pay.mapping, before)).content.decode())
    assert "lookup table Pay: on_missing" in preview and "'OLD'" not in preview
    consultant_client.post(revert_url(pay.mapping, before))
    assert mapped(pay.mapping.pk, "CARD").outcome == Outcome.FAILED
    assert LookupEntry.objects.filter(key="OLD").exists()
