"""Every value survives export then import exactly, and no exported cell is a live formula.

Covers both resources (lookup entries, mapping rows) in both formats (CSV, XLSX),
through the same resource and format classes the admin's export and import use.
"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.urls import reverse
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mappings import selectors, services
from mappings.models import FieldMappingRow, LookupEntry, LookupTable, Mapping
from mappings.resources import (
    IMPORT_FORMATS,
    FieldMappingRowResource,
    LookupEntryResource,
    escape_cell,
    lookup_import,
    unescape_cell,
)
from tests.mappings.factories import FieldMappingRowFactory, LookupTableFactory, MappingFactory

pytestmark = pytest.mark.django_db

FORMATS = {f().get_extension(): f for f in IMPORT_FORMATS}
LIVE = ("=", "+", "-", "@", "\t", "\r")
# what PostgreSQL can store in a text column: anything but NUL and lone surrogates
storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
tricky = st.sampled_from(
    ["'", "''", "=", "+", "-", "@", "\t", "\r", "\n", " ", "_x000D_", "_x", "_xABCD", "\x01"]
)
texts = st.lists(st.one_of(st.text(storable, max_size=6), tricky), max_size=5).map("".join)
examples = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def export(resource, file_format: str, queryset) -> bytes:
    """What the admin's export view sends for ``queryset``."""
    data = FORMATS[file_format](encoding="utf-8").export_data(resource.export(queryset=queryset))
    return data.encode() if isinstance(data, str) else data


def cells(content: bytes, file_format: str) -> list:
    if file_format == "csv":
        return [c for row in csv.reader(io.StringIO(content.decode())) for c in row]
    book = openpyxl.load_workbook(io.BytesIO(content), data_only=False)
    found = [cell for row in book.active.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in found)
    return [cell.value for cell in found if isinstance(cell.value, str)]


def assert_no_live_formula(content: bytes, file_format: str) -> None:
    for cell in cells(content, file_format):
        assert not cell.startswith(LIVE), cell


@given(st.one_of(texts, st.text(storable)))
def test_escaping_is_reversible_and_never_leaves_a_formula(text):
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert not escaped.startswith(LIVE)


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
@examples
# OOXML escapes that share an underscore, or meet an escaped control character
@example(entries={"_x0000_x000D_": "_xABCD\x01"})
@given(
    entries=st.dictionaries(
        texts.filter(lambda t: 0 < len(t) <= 200),
        texts.filter(lambda t: 0 < len(t) <= 500),
        min_size=1,
        max_size=8,
    )
)
def test_lookup_entries_round_trip_exactly(file_format, entries):
    LookupTable.objects.all().delete()  # what the example before left
    table = LookupTableFactory(name="Pay")
    LookupEntry.objects.bulk_create(
        LookupEntry(table=table, key=k, value=v) for k, v in entries.items()
    )
    content = export(LookupEntryResource(), file_format, LookupEntry.objects.all())
    assert_no_live_formula(content, file_format)
    LookupEntry.objects.all().delete()
    result = lookup_import(content=content, file_format=file_format, dry_run=False)
    assert not result.has_validation_errors(), [r.error for r in result.invalid_rows]
    assert dict(LookupEntry.objects.values_list("key", "value")) == entries


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
@examples
@given(
    name=texts.filter(lambda t: 0 < len(t) <= 200),
    template=texts.filter(lambda t: len(t) <= 500),
    separator=texts.filter(lambda t: len(t) <= 20),
    source=texts.filter(bool),
)
def test_mapping_rows_round_trip_exactly(file_format, name, template, separator, source):
    Mapping.objects.all().delete()  # what the example before left
    mapping = MappingFactory(name=name)
    FieldMappingRowFactory(
        mapping=mapping,
        order=1,
        kind="many_to_one",
        sources=[source, "Phone"],
        targets=["Contact.Phone"],
        template=template,
        combine="join",
        separator=separator,
    )
    assume(not services.mapping_validate(parts=selectors.mapping_parts(mapping=mapping)))
    columns = ["mapping", "kind", "sources", "targets", "template", "combine", "separator"]
    before = list(FieldMappingRow.objects.values_list(*columns))
    content = export(FieldMappingRowResource(), file_format, FieldMappingRow.objects.all())
    assert_no_live_formula(content, file_format)
    FieldMappingRow.objects.all().delete()
    dataset = FORMATS[file_format](encoding="utf-8").create_dataset(content)
    del dataset["id"]
    result = FieldMappingRowResource().import_data(dataset, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert list(FieldMappingRow.objects.values_list(*columns)) == before


@pytest.mark.parametrize("file_format", ["0", "1"], ids=["csv", "xlsx"])
def test_a_row_round_trips_through_the_admins_export_and_import(consultant_client, file_format):
    """The reported case: separator "-" and template "+44 {Phone}" came back with a quote."""
    mapping = MappingFactory(name="Contacts")
    FieldMappingRowFactory(mapping=mapping, order=1, kind="many_to_one",
                           sources=["Code", "Phone"], targets=["Contact.Phone"],
                           template="+44 {Phone}", separator="-")  # fmt: skip
    columns = ["sources", "targets", "template", "separator", "combine"]
    before = list(FieldMappingRow.objects.values_list(*columns))
    exported = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_export"),
        {"format": file_format}
        | {f"fieldmappingrowresource_{c}": True for c in ["mapping", "order", "kind", *columns]},
    )
    assert exported.status_code == 200
    extension = "csv" if file_format == "0" else "xlsx"
    assert_no_live_formula(exported.content, extension)
    FieldMappingRow.objects.all().delete()
    upload = io.BytesIO(exported.content)
    upload.name = f"rows.{extension}"
    page = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_import"),
        {"format": file_format, "import_file": upload},
    )
    assert "confirm_form" in page.context, page.content.decode()[-2000:]
    done = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_process_import"),
        {**page.context["confirm_form"].initial, "format": file_format},
    )
    assert done.status_code == 302
    assert list(FieldMappingRow.objects.values_list(*columns)) == before
