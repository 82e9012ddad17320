"""What a dry run accepts, the confirmation imports; what it refuses, nothing imports; no 500s.

The class of defect: an input the dry run let through (a NUL, an invalid
character, an over-long key, a duplicate) that the database then refused when
the import was confirmed, as a server error.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.admin import LookupEntryAdmin
from mappings.models import FieldMappingRow, LookupEntry, LookupTable
from mappings.resources import lookup_import
from tests.mappings.factories import FieldMappingRowFactory, LookupTableFactory, MappingFactory

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:mappings_lookupentry_import")
CONFIRM = reverse("admin:mappings_lookupentry_process_import")
CHANGELIST = reverse("admin:mappings_lookupentry_changelist")


def csv_bytes(rows, header=("table", "key", "value")) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    # a lone surrogate becomes bytes that are not UTF-8, as a broken file would have
    return out.getvalue().encode("utf-8", errors="surrogatepass")


def dry_run(client, content: bytes, name: str = "pay.csv"):
    page = client.post(IMPORT, {"format": "0", "import_file": SimpleUploadedFile(name, content)})
    assert page.status_code == 200
    return page


def confirm(client, page):
    return client.post(CONFIRM, {**page.context["confirm_form"].initial, "format": "0"})


def test_a_nul_is_refused_by_the_dry_run(consultant_client):
    LookupTableFactory(name="Pay")
    page = dry_run(consultant_client, b"table,key,value\nPay,EFT,090\nPay,CHQ\x00,091\n")
    assert "confirm_form" not in page.context
    assert "NUL character at position 4" in page.content.decode()
    assert not LookupEntry.objects.exists()


def test_confirming_after_the_data_changed_says_why_and_imports_nothing(consultant_client):
    LookupTableFactory(name="Pay")
    page = dry_run(consultant_client, b"table,key,value\nPay,EFT,090\n")
    LookupTable.objects.all().delete()  # someone deleted the table meanwhile
    LookupTableFactory(name="Other")
    done = confirm(consultant_client, page)
    assert done.status_code == 302 and done.url == IMPORT
    message = [str(m) for m in done.wsgi_request._messages]
    assert 'Nothing was imported: row 1: There is no lookup table named "Pay".' in message[0]
    assert not LookupEntry.objects.exists()


def test_confirming_a_file_gone_from_temporary_storage_is_not_a_server_error(consultant_client):
    LookupTableFactory(name="Pay")
    page = dry_run(consultant_client, b"table,key,value\nPay,EFT,090\n")
    model_admin = LookupEntryAdmin(LookupEntry, admin.site)
    storage = model_admin.get_tmp_storage_class()(
        name=page.context["confirm_form"].initial["import_file_name"],
        **model_admin.get_tmp_storage_class_kwargs(),
    )
    storage.remove()
    done = confirm(consultant_client, page)
    assert done.status_code == 302 and done.url == IMPORT
    assert not LookupEntry.objects.exists()


def test_a_nul_in_a_mapping_row_is_refused_by_the_dry_run(consultant_client):
    mapping = MappingFactory(name="Contacts")
    FieldMappingRowFactory(mapping=mapping)
    header = "mapping,order,kind,sources,targets,transforms,template,combine,separator\n"
    for bad in ('"[""Na\x00me""]"', '"[""Na\\u0000me""]"'):
        content = f'{header}Contacts,2,direct,{bad},"[""Name""]",[],,join," "\n'.encode()
        page = consultant_client.post(
            reverse("admin:mappings_fieldmappingrow_import"),
            {"format": "0", "import_file": SimpleUploadedFile("rows.csv", content)},
        )
        assert page.status_code == 200 and "confirm_form" not in page.context
        assert "NUL character" in page.content.decode()
        assert FieldMappingRow.objects.count() == 1


cell = st.one_of(
    st.text(st.characters(blacklist_characters="\x00"), max_size=8),
    st.sampled_from(
        [
            "EFT",
            "eft",
            "\x00",
            "EF\x00T",
            "\ud800",
            "=1+1",
            "'=1",
            "",
            " ",
            "-2",
            "K" * 201,
            "V" * 501,
            "'" + "K" * 200,
            " padded ",
        ]
    ),
)
rows = st.lists(
    st.tuples(st.sampled_from(["Pay", "Pay", "Caseless", "Nope", ""]), cell, cell),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows)
def test_dry_run_and_confirm_agree_on_any_file(consultant_client, rows):
    LookupEntry.objects.all().delete()
    if not LookupTable.objects.exists():
        LookupTableFactory(name="Pay")
        LookupTableFactory(name="Caseless", case_sensitive=False)
    content = csv_bytes(rows)
    page = dry_run(consultant_client, content)
    result = page.context.get("result")
    if "confirm_form" in page.context:
        done = confirm(consultant_client, page)
        assert done.status_code == 302 and done.url == CHANGELIST
        assert LookupEntry.objects.count() == result.totals["new"] == len(rows)
        return
    assert not LookupEntry.objects.exists()
    # the same file imported for real (as a worker does for a large one) is refused alike
    try:
        real = lookup_import(content=content, file_format="csv", dry_run=False)
    except UnicodeDecodeError:
        assert result is None  # the dry run could not read it either, and said so
    else:
        assert [r.number for r in real.invalid_rows] == [r.number for r in result.invalid_rows]
    assert not LookupEntry.objects.exists()


ROW_COLUMNS = ("mapping", "order", "kind", "sources", "targets", "transforms", "template",
               "combine", "separator")  # fmt: skip
row_cell = st.one_of(
    cell,
    st.sampled_from(
        ["Contacts", "1", "-1", "99999999999", "direct", "many_to_one", '["Name"]', '["A", "B"]',
         '{"a": 1}', '[{"name": "trim"}]', '[{"name": "nope"}]', "[1]", '["\\u0000"]', "[", "join",
         "template", "x" * 501]
    ),
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(*[row_cell] * len(ROW_COLUMNS)), min_size=1, max_size=3))
def test_mapping_row_imports_never_fail_with_a_server_error(consultant_client, rows):
    FieldMappingRow.objects.all().delete()
    if not MappingFactory._meta.model.objects.filter(name="Contacts").exists():
        MappingFactory(name="Contacts")
    content = csv_bytes(rows, header=ROW_COLUMNS)
    page = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_import"),
        {"format": "0", "import_file": SimpleUploadedFile("rows.csv", content)},
    )
    assert page.status_code == 200
    if "confirm_form" in page.context:
        done = consultant_client.post(
            reverse("admin:mappings_fieldmappingrow_process_import"),
            {**page.context["confirm_form"].initial, "format": "0"},
        )
        assert done.status_code == 302
        assert done.url == reverse("admin:mappings_fieldmappingrow_changelist")
        assert FieldMappingRow.objects.count() == len(rows)
    else:
        assert not FieldMappingRow.objects.exists()


def test_confirming_rows_of_a_mapping_deleted_since_says_why(consultant_client):
    MappingFactory(name="Contacts")
    content = csv_bytes([("Contacts", "1", "direct", '["Name"]', '["Name"]', "[]", "", "join",
                          " ")], header=ROW_COLUMNS)  # fmt: skip
    page = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_import"),
        {"format": "0", "import_file": SimpleUploadedFile("rows.csv", content)},
    )
    MappingFactory._meta.model.objects.all().delete()
    MappingFactory(name="Other")
    done = consultant_client.post(
        reverse("admin:mappings_fieldmappingrow_process_import"),
        {**page.context["confirm_form"].initial, "format": "0"},
    )
    assert done.url == reverse("admin:mappings_fieldmappingrow_import")
    message = str(next(iter(done.wsgi_request._messages)))
    assert message.startswith('Nothing was imported: row 1: There is no mapping named "Contacts"')
    assert not FieldMappingRow.objects.exists()
