"""Validate runs through the real admin pages: the buttons, the report, its export."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from clarity.models import Flow, ValidateOutcome, ValidateRun, ValidateStatus
from clarity.sync.queues import get_queue, pair_queue_name
from clarity.sync.validation import validate_run_execute
from mappings.resources import unescape_cell, xlsx_unescape
from tests.clarity.validation import build

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = reverse("admin:clarity_validaterecord_changelist")


def read_xlsx(data: bytes) -> list[list[object]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    rows = [
        [unescape_cell(v) if isinstance(v, str) else v for v in map(xlsx_unescape, row)]
        for row in book.active.iter_rows(values_only=True)
    ]
    book.close()
    return rows


def test_validate_from_the_flow_page_then_read_filter_and_export_the_report(
    sandbox, consultant_client, finance_client
):
    case = build(sandbox)
    flow_page = consultant_client.get(reverse("admin:clarity_flow_change", args=[case.flow.pk]))
    start = reverse("admin:clarity_validaterun_flow", args=[case.flow.pk])
    assert start in flow_page.content.decode()
    queue = get_queue(pair_queue_name(case.flow.pair_id))
    queue.empty()

    answer = consultant_client.post(start)

    run = ValidateRun.objects.get(flow=case.flow)
    assert answer.status_code == 302
    assert answer.url == reverse("admin:clarity_validaterun_change", args=[run.pk])
    [job] = queue.get_jobs()
    assert (job.func_name, list(job.args)) == ("clarity.jobs.validate_flow", [run.pk])
    assert consultant_client.post(start).status_code == 302  # still queued: the same run
    assert ValidateRun.objects.filter(flow=case.flow).count() == 1
    run = validate_run_execute(run_id=run.pk)  # what the worker does with the job
    assert run.status == ValidateStatus.SUCCEEDED

    # The report, as finance reads it: counts on top, filters, exact search.
    page = finance_client.get(REPORT, {"run": run.pk}).content.decode()
    assert "Would fail: 1" in page and "Would create: 4" in page and "Unchanged: 1" in page
    failing = finance_client.get(REPORT, {"run": run.pk, "outcome": "would_fail"})
    listed = failing.context["cl"].result_list
    assert [r.source_id for r in listed] == [case.failing]
    code = listed[0].error_code
    by_code = finance_client.get(REPORT, {"run": run.pk, "code": code}).context["cl"]
    assert [r.source_id for r in by_code.result_list] == [case.failing]
    found = finance_client.get(REPORT, {"run": run.pk, "q": case.differs}).context["cl"]
    assert [r.source_id for r in found.result_list] == [case.differs]
    first = finance_client.get(REPORT, {"run": run.pk, "since_previous__exact": "first"})
    assert first.context["cl"].result_count == 8

    # The record page shows the difference field by field.
    update = run.records.get(source_id=case.differs)
    detail = finance_client.get(
        reverse("admin:clarity_validaterecord_change", args=[update.pk])
    ).content.decode()
    assert "In the target now" in detail and "&quot;Old name Ltd&quot;" in detail
    assert "&quot;old@example.com&quot;" in detail

    # XLSX export of what the filters select, read back exactly.
    export = reverse("admin:clarity_validaterecord_export", args=["xlsx"])
    response = finance_client.get(export, {"run": run.pk, "outcome": "would_update"})
    assert response.status_code == 200 and response.streaming
    rows = read_xlsx(b"".join(response.streaming_content))
    header, [row] = rows[0], rows[1:]
    got = dict(zip(header, row, strict=True))
    assert got["source id"] == case.differs and got["outcome"] == ValidateOutcome.WOULD_UPDATE
    assert json.loads(got["differences"]) == update.differences
    assert json.loads(got["would send"]) == update.transformed_payload


def test_only_those_allowed_start_runs_or_read_reports(sandbox, finance_client, client):
    case = build(sandbox)
    start = reverse("admin:clarity_validaterun_flow", args=[case.flow.pk])
    assert finance_client.post(start).status_code == 403  # finance reads, does not start
    assert not ValidateRun.objects.exists()
    run = case.validate()
    nobody = User.objects.create_user("staff-only", password="x", is_staff=True)
    client.force_login(nobody)
    assert client.get(REPORT, {"run": run.pk}).status_code == 403
    export = reverse("admin:clarity_validaterecord_export", args=["xlsx"])
    assert client.get(export, {"run": run.pk}).status_code == 403
    assert finance_client.get(REPORT, {"run": run.pk}).status_code == 200


def test_validate_every_flow_of_a_pair_from_the_pair_page(sandbox, consultant_client):
    case = build(sandbox)
    other = Flow.objects.create(
        pair=case.flow.pair,
        name="Customers again",
        source_connection=case.flow.source_connection,
        source_entity="customers",
        target_connection=case.flow.target_connection,
        target_entity="Contacts",
        mapping=case.flow.mapping,
    )
    pair_page = reverse("admin:clarity_integrationpair_change", args=[case.flow.pair_id])
    start = reverse("admin:clarity_validaterun_pair", args=[case.flow.pair_id])
    assert start in consultant_client.get(pair_page).content.decode()

    assert consultant_client.post(start).status_code == 302

    assert set(ValidateRun.objects.values_list("flow_id", flat=True)) == {case.flow.pk, other.pk}
