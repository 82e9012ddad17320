"""History of rows and lookup entries: who changed what, and reverting it from the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mappings.models import FieldMappingRow
from tests.mappings.factories import FieldMappingRowFactory

pytestmark = pytest.mark.django_db


def test_row_change_is_recorded_and_can_be_reverted(consultant_client, consultant):
    row = FieldMappingRowFactory(sources=["Customer"], targets=["Contact.Name"], order=1)
    url = reverse("admin:mappings_fieldmappingrow_change", args=[row.pk])
    data = {
        "mapping": row.mapping_id,
        "order": "1",
        "kind": "direct",
        "sources": "CustomerName",
        "targets": "Contact.Name",
        "transforms": "[]",
        "template": "",
        "combine": "join",
        "separator": " ",
    }
    assert consultant_client.post(url, data).status_code == 302
    latest = row.history.first()
    assert latest.history_user == consultant
    delta = latest.diff_against(latest.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [
        ("sources", ["Customer"], ["CustomerName"])
    ]
    first = row.history.last()
    revert_url = reverse(
        "admin:mappings_fieldmappingrow_simple_history", args=[row.pk, first.history_id]
    )
    page = consultant_client.get(revert_url)
    assert page.status_code == 200
    assert consultant_client.post(revert_url, data | {"sources": "Customer"}).status_code == 302
    assert FieldMappingRow.objects.get().sources == ["Customer"]
    row.mapping.refresh_from_db()
    assert row.mapping.version == 3


def test_revert_to_a_broken_row_is_refused(consultant_client):
    row = FieldMappingRowFactory()
    url = reverse("admin:mappings_fieldmappingrow_change", args=[row.pk])
    data = {
        "mapping": row.mapping_id,
        "order": "1",
        "kind": "direct",
        "sources": "Customer",
        "targets": "Contact.Name",
        "transforms": '[{"name": "nope"}]',
        "template": "",
        "combine": "join",
        "separator": " ",
    }
    page = consultant_client.post(url, data)
    assert page.status_code == 200 and b"nope" in page.content
