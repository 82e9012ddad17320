"""Mapping rows to and from a spreadsheet, through the resource the admin's import uses."""

from __future__ import annotations

import pytest
import tablib
from django.core.exceptions import ValidationError

from mappings.models import FieldMappingRow
from mappings.resources import FieldMappingRowResource
from tests.mappings.factories import FieldMappingRowFactory, MappingFactory

pytestmark = pytest.mark.django_db


def rows_of(mapping) -> list[tuple]:
    return list(
        FieldMappingRow.objects.filter(mapping=mapping)
        .order_by("order")
        .values_list("order", "sources", "targets", "transforms")
    )


def test_rows_round_trip_through_xlsx():
    mapping = MappingFactory(name="Orders → Invoices")
    FieldMappingRowFactory(mapping=mapping, order=0, sources=["Customer"],
                           targets=["Contact.ContactNumber"])  # fmt: skip
    FieldMappingRowFactory(mapping=mapping, order=1, sources=["SalesOrder"],
                           targets=["InvoiceNumber"],
                           transforms=[{"name": "concat", "args": {"before": "SO-"}}])  # fmt: skip
    before = rows_of(mapping)
    xlsx = FieldMappingRowResource().export().export("xlsx")

    FieldMappingRow.objects.all().delete()
    dataset = tablib.Dataset().load(xlsx, format="xlsx")
    del dataset["id"]
    result = FieldMappingRowResource().import_data(dataset, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert rows_of(mapping) == before


def test_a_row_that_breaks_the_mapping_imports_nothing():
    mapping = MappingFactory(name="Customers")
    FieldMappingRowFactory(mapping=mapping, order=0)
    headers = ["mapping", "order", "kind", "sources", "targets", "transforms", "template"]
    dataset = tablib.Dataset(headers=[*headers, "combine", "separator"])
    dataset.append(["Customers", 1, "direct", '["Name"]', '["Name"]',
                    '[{"name": "shout"}]', "", "join", " "])  # fmt: skip
    try:
        result = FieldMappingRowResource().import_data(dataset, dry_run=False)
    except ValidationError as exc:  # raised by the whole-mapping compile check
        reported = " ".join(exc.messages)
    else:
        reported = " ".join(
            [str(e.error) for e in result.base_errors]
            + [str(e.error) for row in result.rows for e in row.errors]
            + [str(row.validation_error) for row in result.invalid_rows]
        )
    assert "shout" in reported
    assert FieldMappingRow.objects.filter(mapping=mapping).count() == 1


@pytest.mark.parametrize("depth", [65, 100_000])
def test_deeply_nested_transforms_in_a_file_are_a_readable_row_error(depth):
    mapping = MappingFactory(name="Customers")
    headers = ["mapping", "order", "kind", "sources", "targets", "transforms", "template"]
    dataset = tablib.Dataset(headers=[*headers, "combine", "separator"])
    dataset.append(["Customers", 1, "direct", '["Name"]', '["Name"]',
                    "[" * depth + "]" * depth, "", "join", " "])  # fmt: skip
    result = FieldMappingRowResource().import_data(dataset, dry_run=False)
    reported = [str(e.error) for row in result.rows for e in row.errors] + [
        str(row.error) for row in result.invalid_rows
    ]
    assert len(reported) == 1
    assert "transforms" in reported[0]
    assert "This JSON nests lists or objects more than 64 levels deep" in reported[0]
    assert not FieldMappingRow.objects.filter(mapping=mapping).exists()
