"""The ledger admin as a finance user uses it, and what it costs per page."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from clarity.models import AuditEvent, RecordStatus, SyncRecord
from clarity.pagination import EstimatedCountPaginator, planner_estimate
from clarity.selectors.ledger import lookup_missing_parts
from mappings.models import LookupTable
from tests.factories import FlowFactory, RecordFactory, UserFactory

CHANGELIST = reverse("admin:clarity_syncrecord_changelist")


def listed_ids(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.fixture
def ledger(db):
    flow_a = FlowFactory(name="Customers")
    flow_b = FlowFactory(name="Invoices")
    ok = RecordFactory(flow=flow_a, source_id="CUST1", target_id="xero-contact-1")
    failed = RecordFactory(
        flow=flow_a,
        source_id="CUST2",
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code="lookup_missing",
        message="no entry for 'EFT' in lookup \"SYSPRO payment method → Xero bank account\"",
        source_payload={"PaymentMethod": "EFT", "Amount": "12.50"},
        transformed_payload={"Account": None},
        target_response={"Elements": [{"ValidationErrors": [{"Message": "Account missing"}]}]},
    )
    other = RecordFactory(
        flow=flow_b,
        source_id="SO-1",
        business_key="INV-00042",
        status=RecordStatus.FAILED,
        error_kind="transient",
        error_code="http_503",
    )
    old = RecordFactory(flow=flow_b, source_id="SO-0")
    SyncRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))
    return {"ok": ok, "failed": failed, "other": other, "old": old, "flows": (flow_a, flow_b)}


def test_filters_narrow_the_ledger(finance_client, ledger):
    flow_a, flow_b = ledger["flows"]
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    cases = [
        ({"status": "failed"}, {ledger["failed"].pk, ledger["other"].pk}),
        ({"error_kind": "transient"}, {ledger["other"].pk}),
        ({"error_code": "lookup_missing"}, {ledger["failed"].pk}),
        ({"flow": flow_b.pk}, {ledger["other"].pk, ledger["old"].pk}),
        ({"pair": flow_a.pair_id}, {ledger["ok"].pk, ledger["failed"].pk}),
        (
            {"created_at__gte": week_ago},
            {ledger["ok"].pk, ledger["failed"].pk, ledger["other"].pk},
        ),
    ]
    for query, expected in cases:
        response = finance_client.get(CHANGELIST, query)
        assert response.status_code == 200, query
        assert listed_ids(response) == expected, query


def test_error_code_filter_offers_the_codes_in_use(finance_client, ledger):
    html = finance_client.get(CHANGELIST).content.decode()
    assert "?error_code=lookup_missing" in html
    assert "?error_code=http_503" in html


def test_search_matches_source_target_and_business_keys_exactly(finance_client, ledger):
    for term, record in (("CUST2", "failed"), ("xero-contact-1", "ok"), ("INV-00042", "other")):
        response = finance_client.get(CHANGELIST, {"q": term})
        assert listed_ids(response) == {ledger[record].pk}, term
    assert listed_ids(finance_client.get(CHANGELIST, {"q": "CUST"})) == set()


def test_detail_page_shows_payloads_pretty_printed_and_read_only(finance_client, ledger):
    record = ledger["failed"]
    response = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = response.content.decode()
    assert "no entry for &#x27;EFT&#x27; in lookup" in html
    assert '<pre class="ledger-json">{\n  &quot;Amount&quot;: &quot;12.50&quot;,' in html
    assert "Target response" in html and "Account missing" in html
    assert html.count("<textarea") == 1  # only the "Edit the payload and retry" form
    assert 'name="_save"' not in html


def test_finance_resolves_failed_records_with_a_note(finance_client, finance, ledger):
    ids = [ledger["failed"].pk, ledger["ok"].pk]
    response = finance_client.post(
        CHANGELIST,
        {"action": "resolve_selected", "_selected_action": ids, "note": "Fixed in Xero by hand"},
        follow=True,
    )
    assert "1 record(s) marked resolved." in response.content.decode()
    failed = SyncRecord.objects.get(pk=ledger["failed"].pk)
    assert failed.status == RecordStatus.RESOLVED
    assert failed.resolved_by == finance
    assert failed.resolution_note == "Fixed in Xero by hand"
    assert SyncRecord.objects.get(pk=ledger["ok"].pk).status == RecordStatus.SUCCEEDED


def test_resolving_without_a_note_is_refused_and_changes_nothing(finance_client, ledger):
    response = finance_client.post(
        CHANGELIST,
        {"action": "resolve_selected", "_selected_action": [ledger["failed"].pk], "note": " "},
        follow=True,
    )
    assert "the note is required" in response.content.decode()
    assert SyncRecord.objects.get(pk=ledger["failed"].pk).status == RecordStatus.FAILED


def test_a_consultant_cannot_resolve(consultant_client, ledger):
    response = consultant_client.post(
        CHANGELIST,
        {"action": "resolve_selected", "_selected_action": [ledger["failed"].pk], "note": "x"},
    )
    assert SyncRecord.objects.get(pk=ledger["failed"].pk).status == RecordStatus.FAILED
    assert response.status_code in (200, 302)


@pytest.mark.django_db
def test_changelist_queries_do_not_grow_with_rows(finance_client, django_assert_max_num_queries):
    flow = FlowFactory()
    RecordFactory.create_batch(5, flow=flow)
    with django_assert_max_num_queries(20) as few:
        finance_client.get(CHANGELIST)
    RecordFactory.create_batch(60, flow=flow, status=RecordStatus.FAILED, error_code="E1")
    RecordFactory.create_batch(5, flow=FlowFactory())
    for query in ("", "?status=failed", "?q=CUST00001", "?p=2"):
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert finance_client.get(CHANGELIST + query).status_code == 200


@pytest.mark.django_db
def test_large_results_are_estimated_not_counted(monkeypatch):
    """On PostgreSQL the planner's estimate stands in for COUNT(*) above a threshold."""
    assert connection.vendor == "postgresql"
    flow = FlowFactory()
    RecordFactory.create_batch(300, flow=flow)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clarity_syncrecord")
    estimate = planner_estimate(SyncRecord.objects.all())
    assert 250 <= estimate <= 350

    monkeypatch.setattr("clarity.pagination.EXACT_COUNT_BELOW", 100)
    paginator = EstimatedCountPaginator(SyncRecord.objects.order_by("-id"), 100)
    assert paginator.count == estimate
    monkeypatch.setattr("clarity.pagination.EXACT_COUNT_BELOW", 10_000)
    assert EstimatedCountPaginator(SyncRecord.objects.order_by("-id"), 100).count == 300


# -- big payloads --------------------------------------------------------------------------


def big(label: str, mb: float = 5) -> dict:
    """A sales order of about ``mb`` megabytes of JSON: many lines, as SYSPRO sends them."""
    line = {"StockCode": "A100", "Description": "Widget " * 8, "Qty": 1, "Price": "12.50"}
    count = int(mb * 1024 * 1024 / len(json.dumps(line)))
    return {"Order": label, "Lines": [dict(line, Line=i) for i in range(count)]}


@pytest.fixture
def huge(db):
    flow = FlowFactory(name="Orders")
    record = RecordFactory(
        flow=flow,
        source_id="SO-BIG",
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code="invalid_line",
        source_payload=big("source"),
        transformed_payload=big("sent"),
        target_response=big("answer", 1),
        payload_override=big("corrected"),
        message="Xero answered: " + "<html>an error page</html>" * 40_000,
    )
    AuditEvent.objects.create(
        action="edit_payload",
        flow=flow,
        record=record,
        detail={"before": big("sent"), "after": big("corrected")},
    )
    return record


def test_a_5mb_record_page_stays_small_and_offers_each_payload_whole(finance_client, huge):
    page = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[huge.pk]))
    assert page.status_code == 200
    assert len(page.content) < 200_000, len(page.content)
    html = page.content.decode()
    assert re.search(r"Shortened: the whole payload is \d+\.\d MB\.", html)
    assert "(shortened: 1040015 characters in all" in html
    assert html.count("Download the whole payload (JSON)") == 6  # 4 payloads, before, after
    event = AuditEvent.objects.get(record=huge)
    for part, expected in (
        ("source", huge.source_payload),
        ("sent", huge.transformed_payload),
        ("response", huge.target_response),
        ("correction", huge.payload_override),
        (f"audit-{event.pk}-before", event.detail["before"]),
        (f"audit-{event.pk}-after", event.detail["after"]),
    ):
        url = reverse("admin:clarity_syncrecord_download", args=[huge.pk, part])
        assert url in html
        download = finance_client.get(url)
        assert download.status_code == 200, part
        assert download["Content-Type"].startswith("application/json")
        assert "attachment" in download["Content-Disposition"]
        assert json.loads(download.content) == expected, part


def test_a_5mb_payload_is_corrected_by_upload_not_in_the_page(finance_client, huge):
    edit = reverse("admin:clarity_syncrecord_edit_payload", args=[huge.pk])
    page = finance_client.get(edit)
    assert len(page.content) < 200_000, len(page.content)
    assert "too large to edit in the page" in page.content.decode()
    corrected = big("fixed", 2)
    upload = SimpleUploadedFile("fixed.json", json.dumps(corrected).encode(), "application/json")
    response = finance_client.post(edit, {"payload": "", "upload": upload})
    assert response.status_code == 302
    huge.refresh_from_db()
    assert (huge.payload_override, huge.status) == (corrected, RecordStatus.PENDING)
    bad = SimpleUploadedFile("bad.json", b'{"Order": ', "application/json")
    response = finance_client.post(edit, {"upload": bad})
    assert "not valid JSON" in " ".join(response.context["payload_form"].errors["upload"])


def test_small_payloads_are_shown_whole_with_their_size(finance_client, ledger):
    record = ledger["failed"]
    html = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = html.content.decode()
    assert "Shortened" not in html
    assert "&quot;PaymentMethod&quot;: &quot;EFT&quot;" in html
    assert re.search(r"Download \(JSON, \d+ bytes\)", html)


def test_downloads_need_the_right_to_read_the_ledger_and_the_records_own_change(
    client, finance_client, ledger
):
    record, other = ledger["failed"], ledger["other"]
    url = reverse("admin:clarity_syncrecord_download", args=[record.pk, "source"])
    nobody = UserFactory(username="no-role")
    client.force_login(nobody)
    assert client.get(url).status_code == 403
    event = AuditEvent.objects.create(action="edit_payload", record=other, detail={"before": 1})
    stray = reverse(
        "admin:clarity_syncrecord_download", args=[record.pk, f"audit-{event.pk}-before"]
    )
    assert finance_client.get(stray).status_code == 403
    unknown = reverse("admin:clarity_syncrecord_download", args=[record.pk, "secrets"])
    assert finance_client.get(unknown).status_code == 403


# -- what a lookup_missing failure asks of whom ------------------------------------------


@pytest.fixture
def missing_entry(db):
    table = LookupTable.objects.create(name="SYSPRO payment method → Xero bank account")
    record = RecordFactory(
        source_id="PAY-7",
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code="lookup_missing",
        message="No entry for 'EFT' in the lookup table \"SYSPRO payment method → Xero bank "
        'account" (BankAccount from PaymentMethod; row 3)',
    )
    return table, record


def test_a_consultant_gets_a_prefilled_link_to_add_the_missing_entry(
    consultant_client, missing_entry
):
    table, record = missing_entry
    page = consultant_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = page.content.decode()
    add = f"{reverse('admin:mappings_lookupentry_add')}?table={table.pk}&amp;key=EFT"
    assert add in html
    assert "has no entry for <strong>“EFT”</strong>" in html
    form = consultant_client.get(unescape(add)).context["adminform"].form
    assert (form.initial["table"], form.initial["key"]) == (str(table.pk), "EFT")


def test_finance_is_told_whom_to_ask_and_what_to_ask_for(finance_client, missing_entry):
    _, record = missing_entry
    html = finance_client.get(reverse("admin:clarity_syncrecord_change", args=[record.pk]))
    html = html.content.decode()
    assert (
        "Ask your consultant to add an entry for “EFT” to the lookup table "
        "“SYSPRO payment method → Xero bank account”, then retry this record."
    ) in html
    assert reverse("admin:mappings_lookupentry_add") not in html


def test_the_engine_names_table_and_value_and_the_page_reads_them_back():
    from mappings.engine.lookups import Lookup
    from mappings.engine.problems import TransformError
    from mappings.engine.spec import LookupTable as TableSpec

    lookup = Lookup(TableSpec(name="Pay methods", entries={"EFT": "090"}))
    for value, expected in (("CHQ", "CHQ"), (42, "42"), ("", None), ("it's", "it's")):
        with pytest.raises(TransformError) as caught:
            lookup.translate(value)
        miss = lookup_missing_parts(f"{caught.value.message} (BankAccount from Method; row 1)")
        assert miss is not None and (miss.table, miss.value) == ("Pay methods", expected)
    # Rows failed before the wording changed still name theirs.
    old = lookup_missing_parts("no entry for 'EFT' in lookup \"Pay methods\" (row 1)")
    assert old is not None and (old.table, old.value) == ("Pay methods", "EFT")
    # A value too long to quote whole is not guessed at: the table alone is named.
    with pytest.raises(TransformError) as caught:
        lookup.translate("X" * 200)
    assert lookup_missing_parts(caught.value.message).value is None


# -- small things ----------------------------------------------------------------------


def test_the_ledger_counts_ledger_records(finance_client, ledger):
    html = finance_client.get(CHANGELIST).content.decode()
    assert "4 ledger records" in html
    one = finance_client.get(CHANGELIST, {"q": "CUST2"}).content.decode()
    assert "1 ledger record\n" in one


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5_000 + "]" * 5_000,  # RecursionError in json.loads
        '{"Total": ' + "9" * 5_000 + "}",  # ValueError: past the int digit limit
        '{"Total": NaN}',
        '{"Total": Infinity}',
        '{"Total": 1e400}',
        '{"Name": "a\\u0000b"}',
        '{"\\u0000": 1}',
        '{"Name": "\\ud800"}',
    ],
)
def test_a_payload_edit_that_cannot_be_stored_is_a_form_error(finance_client, ledger, text):
    record = ledger["failed"]
    before = (record.payload_override, record.status)
    edit = reverse("admin:clarity_syncrecord_edit_payload", args=[record.pk])
    response = finance_client.post(edit, {"payload": text})
    assert response.status_code == 200
    assert "Nothing was changed" in " ".join(response.context["payload_form"].errors["payload"])
    record.refresh_from_db()
    assert (record.payload_override, record.status) == before
