"""Lookup spreadsheets: all-or-nothing imports, per-row errors, safe exports, the RQ path."""

from __future__ import annotations

import io

import django_rq
import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mappings import services
from mappings.models import ImportJob, ImportStatus, LookupEntry
from mappings.resources import lookup_import
from tests.mappings.factories import LookupEntryFactory, LookupTableFactory

pytestmark = pytest.mark.django_db


def _xlsx(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["table", "key", "value"])
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


BAD_ROWS = [
    ("Pay", "EFT", "090"),
    ("Pay", "", "091"),  # blank key
    ("Pay", "EFT", "092"),  # duplicate key
    ("Pay", "Zürich €", "093"),  # unicode is fine
    ("Pay", "=SUM(A1:A2)", "094"),  # formula
    ("Nope", "X", "095"),  # unknown table
]


def test_invalid_file_reports_each_row_and_writes_nothing():
    LookupTableFactory(name="Pay")
    result = lookup_import(content=_xlsx(BAD_ROWS), file_format="xlsx", dry_run=False)
    errors = {row.number: row.error.message_dict for row in result.invalid_rows}
    assert errors[2] == {"key": ["The key is blank."]}
    assert "already on row 1" in errors[3]["key"][0]
    assert "formula" in errors[5]["key"][0]
    assert 'no lookup table named "Nope"' in errors[6]["table"][0]
    assert set(errors) == {2, 3, 5, 6}
    assert not LookupEntry.objects.exists()


def test_valid_file_writes_everything_with_history(superuser):
    table = LookupTableFactory(name="Pay")
    LookupEntryFactory(table=table, key="CHQ", value="old")
    LookupEntryFactory(table=table, key="CARD", value="80")
    rows = [
        ("Pay", "EFT", "090"),
        ("Pay", "Zürich €", "093"),
        ("Pay", "CHQ", "new"),
        ("Pay", "CARD", 80),
    ]
    dry = lookup_import(content=_xlsx(rows), file_format="xlsx", dry_run=True)
    assert (dry.totals["new"], dry.totals["update"], dry.totals["skip"]) == (2, 1, 1)
    assert LookupEntry.objects.count() == 2
    lookup_import(content=_xlsx(rows), file_format="xlsx", dry_run=False, user=superuser)
    assert dict(LookupEntry.objects.values_list("key", "value")) == {
        "EFT": "090",
        "Zürich €": "093",
        "CHQ": "new",
        "CARD": "80",
    }
    chq = LookupEntry.objects.get(key="CHQ")
    latest = chq.history.first()
    assert latest.history_user == superuser and latest.prev_record.value == "old"
    table.refresh_from_db()
    assert table.version == 2


def test_case_insensitive_table_rejects_keys_differing_only_in_case():
    LookupTableFactory(name="Pay", case_sensitive=False)
    result = lookup_import(
        content=_xlsx([("Pay", "eft", "1"), ("Pay", "EFT", "2")]), file_format="xlsx", dry_run=False
    )
    assert result.invalid_rows[0].number == 2
    assert not LookupEntry.objects.exists()


def test_admin_dry_run_then_confirm(consultant_client):
    LookupTableFactory(name="Pay")
    upload = SimpleUploadedFile("pay.csv", b"table,key,value\nPay,EFT,090\nPay,,091\n")
    page = consultant_client.post(
        reverse("admin:mappings_lookupentry_import"), {"format": "0", "import_file": upload}
    )
    assert b"The key is blank." in page.content
    assert "confirm_form" not in page.context
    upload = SimpleUploadedFile("pay.csv", "table,key,value\nPay,EFT,090\nPay,Zürich,1\n".encode())
    page = consultant_client.post(
        reverse("admin:mappings_lookupentry_import"), {"format": "0", "import_file": upload}
    )
    confirm = page.context["confirm_form"]
    assert not LookupEntry.objects.exists()
    done = consultant_client.post(
        reverse("admin:mappings_lookupentry_process_import"),
        {**confirm.initial, "format": "0"},
    )
    assert done.status_code == 302
    assert LookupEntry.objects.count() == 2


def test_export_quotes_formula_cells(consultant_client):
    table = LookupTableFactory(name="Pay")
    LookupEntryFactory(table=table, key="=HYPERLINK(1)", value="+1")
    LookupEntryFactory(table=table, key="@x", value="-2")
    response = consultant_client.post(
        reverse("admin:mappings_lookupentry_export"),
        {
            "format": "0",
            "lookupentryresource_table": True,
            "lookupentryresource_key": True,
            "lookupentryresource_value": True,
        },
    )
    text = response.content.decode()
    assert "'=HYPERLINK(1),'+1" in text and "'@x,'-2" in text
    # the quoted export imports back to the same values
    LookupEntry.objects.all().delete()
    lookup_import(content=text.encode(), file_format="csv", dry_run=False)
    assert dict(LookupEntry.objects.values_list("key", "value")) == {
        "=HYPERLINK(1)": "+1",
        "@x": "-2",
    }


# The worker runs each job in a forked process, on its own connection, and closes
# this process's connections between jobs: what it writes must really be committed.
@pytest.mark.django_db(transaction=True)
def test_large_file_goes_to_a_worker_with_progress(
    consultant_client, consultant, settings, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "LARGE_IMPORT_ROWS", 3)
    LookupTableFactory(name="Pay")
    queue = django_rq.get_queue("default")
    queue.empty()
    rows = [("Pay", f"K{n}", f"V{n}") for n in range(10)]
    upload = SimpleUploadedFile("big.xlsx", _xlsx(rows))
    with django_capture_on_commit_callbacks(execute=True):
        response = consultant_client.post(
            reverse("admin:mappings_lookupentry_import"), {"format": "1", "import_file": upload}
        )
    job = ImportJob.objects.get()
    assert response.url == reverse("admin:mappings_importjob_change", args=[job.pk])
    django_rq.get_worker("default").work(burst=True)
    job.refresh_from_db()
    assert job.status == ImportStatus.VALIDATED and job.totals == {"new": 10}
    assert not LookupEntry.objects.exists()
    page = consultant_client.get(reverse("admin:mappings_importjob_change", args=[job.pk]))
    assert b"Confirm import" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        consultant_client.post(reverse("admin:mappings_importjob_confirm", args=[job.pk]))
    django_rq.get_worker("default").work(burst=True)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE and job.progress == 100
    assert LookupEntry.objects.count() == 10


# The worker runs each job in a forked process, on its own connection, and closes
# this process's connections between jobs: what it writes must really be committed.
@pytest.mark.django_db(transaction=True)
def test_invalid_large_file_is_reported_by_the_worker(
    consultant, django_capture_on_commit_callbacks
):
    LookupTableFactory(name="Pay")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_create(
            file_name="bad.xlsx",
            file_format="xlsx",
            content=_xlsx(BAD_ROWS),
            row_count=6,
            user=consultant,
        )
    django_rq.get_worker("default").work(burst=True)
    job.refresh_from_db()
    assert job.status == ImportStatus.INVALID
    assert {e["row"] for e in job.errors} == {2, 3, 5, 6}
    with pytest.raises(ValueError):
        services.import_job_confirm(job=job)


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "bulk_create"])
def test_new_entries_each_get_a_history_record_naming_the_user(superuser, monkeypatch, copy):
    from mappings import resources

    if not copy:  # the writer SQLite gets
        monkeypatch.setattr(resources, "_can_copy", lambda connection: False)
    table = LookupTableFactory(name="Pay")
    rows = [("Pay", f"K{n}", f"V{n}") for n in range(7)]
    lookup_import(content=_xlsx(rows), file_format="xlsx", dry_run=False, user=superuser)
    entries = {e.key: e for e in LookupEntry.objects.all()}
    assert {k: e.value for k, e in entries.items()} == {k: v for _, k, v in rows}
    history = list(LookupEntry.history.all())
    assert len(history) == 7
    for record in history:
        entry = entries[record.key]
        assert (record.id, record.table_id, record.value) == (entry.pk, table.pk, entry.value)
        assert record.history_type == "+" and record.history_user == superuser
        assert record.history_change_reason is None and record.history_date is not None
    # the next entry made by hand gets a fresh id: the COPY drew its ids from the sequence
    assert LookupEntryFactory(table=table, key="BY-HAND").pk > max(e.pk for e in entries.values())


def test_confirm_reuses_the_checked_rows_of_the_same_file_but_checks_them_again(monkeypatch):
    from mappings import resources

    table = LookupTableFactory(name="Pay")
    content = _xlsx([("Pay", "EFT", "090"), ("Pay", "CHQ", "091")])
    dry = lookup_import(content=content, file_format="xlsx", dry_run=True)
    assert dry.totals["new"] == 2
    LookupEntryFactory(table=table, key="CHQ", value="old")  # changed since the dry run

    def no_parse(self, in_stream):
        raise AssertionError("the confirmed file was parsed again")

    with monkeypatch.context() as patched:
        patched.setattr(resources.FormulaAwareXLSX, "create_dataset", no_parse)
        done = lookup_import(content=content, file_format="xlsx", dry_run=False)
    assert (done.totals["new"], done.totals["update"]) == (1, 1)
    assert dict(LookupEntry.objects.values_list("key", "value")) == {"EFT": "090", "CHQ": "091"}


def test_confirming_other_bytes_than_were_checked_reads_and_checks_them():
    LookupTableFactory(name="Pay")
    lookup_import(content=_xlsx([("Pay", "EFT", "090")]), file_format="xlsx", dry_run=True)
    other = _xlsx([("Pay", "EFT", "090"), ("Pay", "", "091")])
    done = lookup_import(content=other, file_format="xlsx", dry_run=False)
    assert [row.number for row in done.invalid_rows] == [2]
    assert not LookupEntry.objects.exists()


def test_an_unreadable_kept_copy_means_the_file_is_read_again():
    from mappings import resources

    LookupTableFactory(name="Pay")
    content = _xlsx([("Pay", "EFT", "090")])
    key = resources._parsed_key(content, "xlsx")
    django_rq.get_connection("default").set(key, b"not zlib")
    lookup_import(content=content, file_format="xlsx", dry_run=False)
    assert dict(LookupEntry.objects.values_list("key", "value")) == {"EFT": "090"}


def _staff_with(*codenames: str):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory()
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="mappings", codename__in=codenames)
    )
    return user


@pytest.mark.parametrize("model", ["lookupentry", "fieldmappingrow"])
def test_an_import_needs_change_as_well_as_add_permission(client, model):
    """An import updates existing rows too: 'add' alone opens neither the page nor the button."""
    client.force_login(_staff_with(f"add_{model}", f"view_{model}"))
    import_url = reverse(f"admin:mappings_{model}_import")
    assert client.get(import_url).status_code == 403
    upload = SimpleUploadedFile("t.xlsx", _xlsx([("Pay", "EFT", "090")]))
    assert client.post(import_url, {"format": "1", "import_file": upload}).status_code == 403
    changelist = client.get(reverse(f"admin:mappings_{model}_changelist"))
    assert changelist.status_code == 200
    assert import_url not in changelist.content.decode()

    client.force_login(_staff_with(f"add_{model}", f"change_{model}", f"view_{model}"))
    assert client.get(import_url).status_code == 200
    assert import_url in client.get(reverse(f"admin:mappings_{model}_changelist")).content.decode()


def test_confirming_a_checked_import_job_needs_change_as_well_as_add(client, monkeypatch):
    confirmed = []
    monkeypatch.setattr(services, "import_job_confirm", lambda job: confirmed.append(job))
    job = ImportJob.objects.create(
        file_name="big.xlsx", file_format="xlsx", content=b"", status=ImportStatus.VALIDATED
    )
    page_url = reverse("admin:mappings_importjob_change", args=[job.pk])
    confirm_url = reverse("admin:mappings_importjob_confirm", args=[job.pk])

    client.force_login(_staff_with("add_lookupentry", "view_importjob"))
    assert b"Confirm import" not in client.get(page_url).content
    assert client.post(confirm_url).status_code == 403
    assert not confirmed

    client.force_login(_staff_with("add_lookupentry", "change_lookupentry", "view_importjob"))
    assert b"Confirm import" in client.get(page_url).content
    assert client.post(confirm_url).status_code == 302
    assert confirmed == [job]
