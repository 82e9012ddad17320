"""Ledger and audit exports: what the screen lists, streamed, formula-safe, exact both ways."""

from __future__ import annotations

import csv
import gc
import io
import tracemalloc
from datetime import timedelta

import openpyxl
import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from clarity.models import AuditEvent, RecordStatus, SyncRecord
from clarity.selectors import exports as export_selectors
from clarity.selectors.exports import AUDIT_HEADERS, LEDGER_HEADERS
from clarity.services.exports import csv_lines, xlsx_file
from clarity.services.ledger import ledger_records_resolve
from mappings.models import LookupTable
from mappings.resources import unescape_cell, xlsx_unescape
from tests.factories import FlowFactory, RecordFactory, UserFactory

LEDGER_EXPORT = "admin:clarity_syncrecord_export"
AUDIT_EXPORT = "admin:clarity_auditevent_export"
CHANGELIST = reverse("admin:clarity_syncrecord_changelist")


def read_csv(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig")
    return [[unescape_cell(c) for c in row] for row in csv.reader(io.StringIO(text, newline=""))]


def read_xlsx(data: bytes) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    rows = [
        [unescape_cell(v) if isinstance(v, str) else v for v in map(xlsx_unescape, row)]
        for row in book.active.iter_rows(values_only=True)
    ]
    book.close()
    return rows


def download(client, name: str, fmt: str, query: str = "") -> list[list[object]]:
    response = client.get(reverse(name, args=[fmt]) + query)
    assert response.status_code == 200, response.status_code
    assert response.streaming, "an export streams"
    data = b"".join(response.streaming_content)
    return read_csv(data) if fmt == "csv" else read_xlsx(data)


def column(rows: list[list[object]], header: str) -> list[object]:
    index = rows[0].index(header)
    return [row[index] for row in rows[1:]]


@pytest.fixture
def ledger(db):
    flow_a = FlowFactory(name="Customers")
    flow_b = FlowFactory(name="Invoices")
    records = {
        "ok": RecordFactory(flow=flow_a, source_id="CUST1", target_id="c-1"),
        "failed": RecordFactory(
            flow=flow_a,
            source_id='=HYPERLINK("http://x")',
            status=RecordStatus.FAILED,
            error_kind="data",
            error_code="duplicate_contact_name",
            message="+1 -2 @SUM(A1) 'quoted' _x000D_ and\ta tab\r\nand lines",
        ),
        "other": RecordFactory(
            flow=flow_b,
            source_id="SO-1",
            business_key="INV-00042",
            status=RecordStatus.FAILED,
            error_kind="transient",
            error_code="server_error",
        ),
        "old": RecordFactory(flow=flow_b, source_id="SO-0"),
    }
    SyncRecord.objects.filter(pk=records["old"].pk).update(
        created_at=timezone.now() - timedelta(days=60)
    )
    return {**records, "flows": (flow_a, flow_b)}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status__exact=failed",
        "?flow={flow_a}&status__exact=failed",
        "?q=INV-00042",
        "?error_code=duplicate_contact_name",
        "?created_at__gte={week_ago}",
        "?o=-5.1",  # ordered by another column, as the page can be
    ],
)
def test_ledger_export_is_what_the_changelist_lists(finance_client, ledger, fmt, query):
    """Same filters, search and ordering as the page, across all pages, not re-implemented."""
    flow_a, _ = ledger["flows"]
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()
    query = query.format(flow_a=flow_a.pk, week_ago=week_ago)
    page = finance_client.get(CHANGELIST + query)
    assert page.status_code == 200
    on_screen = [obj.pk for obj in page.context["cl"].result_list]
    assert reverse(LEDGER_EXPORT, args=[fmt]) + query in page.content.decode().replace(
        "&amp;", "&"
    ), "the page's export button carries its filters"
    rows = download(finance_client, LEDGER_EXPORT, fmt, query)
    assert tuple(rows[0]) == LEDGER_HEADERS
    assert [int(pk) for pk in column(rows, "id")] == on_screen
    assert on_screen, "each case lists something"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_ledger_export_keeps_dangerous_text_exact_and_inert(finance_client, ledger, fmt):
    failed = ledger["failed"]
    rows = download(finance_client, LEDGER_EXPORT, fmt, "?error_code=duplicate_contact_name")
    assert column(rows, "source id") == [failed.source_id]
    assert column(rows, "message") == [failed.message]
    assert column(rows, "flow") == ["Customers"]


def test_raw_cells_never_start_a_formula(finance_client, ledger):
    """Before unescaping: every cell a spreadsheet would run starts with a quote."""
    response = finance_client.get(reverse(LEDGER_EXPORT, args=["csv"]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    cells = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
    assert '\'=HYPERLINK("http://x")' in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    book = openpyxl.load_workbook(
        io.BytesIO(
            b"".join(finance_client.get(reverse(LEDGER_EXPORT, args=["xlsx"])).streaming_content)
        ),
        data_only=False,
    )
    for row in book.active.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.value


def test_exports_are_refused_to_who_may_not_view(db, ledger, finance_client):
    nobody = UserFactory(username="clerk", is_staff=True)
    from django.test import Client

    client = Client()
    client.force_login(nobody)
    for name in (LEDGER_EXPORT, AUDIT_EXPORT):
        assert client.get(reverse(name, args=["csv"])).status_code == 403
    # One who may read the ledger but not the audit trail exports the one, not the other.
    nobody.user_permissions.add(Permission.objects.get(codename="view_syncrecord"))
    client.force_login(User.objects.get(pk=nobody.pk))
    assert client.get(reverse(LEDGER_EXPORT, args=["xlsx"])).status_code == 200
    assert client.get(reverse(AUDIT_EXPORT, args=["xlsx"])).status_code == 403
    assert finance_client.get(reverse(LEDGER_EXPORT, args=["pdf"])).status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_audit_trail_export_has_record_and_configuration_changes(
    superuser_client, superuser, finance, ledger, fmt
):
    ledger_records_resolve(
        records=SyncRecord.objects.filter(pk=ledger["failed"].pk),
        user=finance,
        note="=fixed by hand in Xero",
    )
    table = LookupTable(name="@Payment methods")
    table._history_user = superuser
    table.save()
    rows = download(superuser_client, AUDIT_EXPORT, fmt)
    assert tuple(rows[0]) == AUDIT_HEADERS
    by_area = {row[2]: row for row in rows[1:]}
    resolved = by_area["ledger"]
    assert (resolved[1], resolved[3]) == ("finance1", "resolve")
    assert "=fixed by hand in Xero" in resolved[5]
    assert ledger["failed"].source_id in resolved[4]
    created = by_area["lookup table"]
    assert (created[1], created[3]) == ("root", "created")
    assert "@Payment methods" in created[4]
    times = column(rows, "when")
    assert times == sorted(times, reverse=True), "newest first across both sources"
    # Choosing a ledger action leaves configuration out, as the page lists only those.
    only = download(superuser_client, AUDIT_EXPORT, fmt, "?action__exact=resolve")
    assert [row[2] for row in only[1:]] == ["ledger"]
    assert AuditEvent.objects.count() == 1


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=5))
def test_csv_round_trips_any_text(rows):
    data = b"".join(csv_lines(("a", "b"), rows))
    assert read_csv(data) == [["a", "b"], *[list(r) for r in rows]]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=5))
def test_xlsx_round_trips_any_text(rows):
    with xlsx_file(("a", "b"), rows, title="t") as out:
        back = read_xlsx(out.read())
    expected = [list(r) for r in rows]
    # openpyxl writes an empty text as an empty cell, read back as None.
    assert [[v if v is not None else "" for v in row] for row in back] == [["a", "b"], *expected]


def _peak(client, fmt: str) -> int:
    gc.collect()  # garbage left by earlier requests would count against this one
    tracemalloc.start()
    try:
        response = client.get(reverse(LEDGER_EXPORT, args=[fmt]))
        size = sum(len(chunk) for chunk in response.streaming_content)
        assert size > 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _grow_ledger(flow, upto: int) -> None:
    have = SyncRecord.objects.count()
    SyncRecord.objects.bulk_create(
        SyncRecord(
            flow=flow,
            pair=flow.pair,
            source_id=f"S{n:07d}",
            idempotency_key=f"{flow.pk}:S{n:07d}:1",
            status=RecordStatus.FAILED,
            error_code="validation",
            message=f"Record {n} was rejected: " + "x" * 150,
        )
        for n in range(have, upto)
    )


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_memory_stays_flat_as_the_ledger_grows(superuser_client, db, fmt, monkeypatch):
    # Smaller chunks show the same property on fewer rows (tracemalloc slows every
    # allocation down, and a ledger of 20,000 rows took a minute to export under it).
    monkeypatch.setattr(export_selectors, "CHUNK_ROWS", 100)
    flow = FlowFactory()
    _grow_ledger(flow, 500)
    _peak(superuser_client, fmt)  # the first export imports and caches what every later one uses
    small = _peak(superuser_client, fmt)
    _grow_ledger(flow, 4_500)
    large = _peak(superuser_client, fmt)
    # Nine times the rows: the peak may not grow with them (one chunk of rows at a time;
    # 4,500 rows held at once would take megabytes).
    assert large < small * 1.25 + 256 * 1024, (small, large)


def test_xlsx_goes_on_over_sheets_past_the_row_limit():
    """Excel opens 1,048,576 rows a sheet: past it, the rows go on, each sheet headed."""
    rows = [(f"r{n}", n) for n in range(7)]
    with xlsx_file(("name", "n"), rows, title="ledger", sheet_rows=3) as out:
        book = openpyxl.load_workbook(io.BytesIO(out.read()), read_only=True)
    sheets = [list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets]
    assert book.sheetnames == ["ledger", "ledger 2", "ledger 3", "ledger 4"]
    assert all(sheet[0] == ("name", "n") for sheet in sheets)
    assert [row for sheet in sheets for row in sheet[1:]] == rows
    with xlsx_file(("name", "n"), [], title="ledger") as out:
        empty = openpyxl.load_workbook(io.BytesIO(out.read()), read_only=True)
    assert list(empty.active.iter_rows(values_only=True)) == [("name", "n")]


def test_filters_the_list_refuses_export_nothing(finance_client, ledger):
    response = finance_client.get(
        reverse(LEDGER_EXPORT, args=["csv"]) + "?created_at__gte=not-a-date", follow=True
    )
    assert response.redirect_chain[-1][0].startswith(CHANGELIST)
    assert any("nothing was exported" in str(m) for m in response.context["messages"])
