"""GET /api/records/export/<csv|xlsx>/: the list's filters, one streamed file, the same columns."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clarity.models import RecordStatus
from clarity.selectors.exports import LEDGER_HEADERS
from tests.clarity.services.test_exports import read_csv, read_xlsx
from tests.factories import FlowFactory, RecordFactory, UserFactory


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_takes_the_lists_filters(db, finance, fmt):
    flow = FlowFactory()
    failed = [
        RecordFactory(
            flow=flow, status=RecordStatus.FAILED, error_code="validation", message=f"=bad {n}"
        )
        for n in range(3)
    ]
    RecordFactory(flow=flow)  # succeeded: filtered out
    response = api(finance).get(f"/api/records/export/{fmt}/", {"status": "failed"})
    assert response.status_code == 200
    assert response.streaming
    data = b"".join(response.streaming_content)
    rows = read_csv(data) if fmt == "csv" else read_xlsx(data)
    assert tuple(rows[0]) == LEDGER_HEADERS
    assert [int(row[0]) for row in rows[1:]] == [r.pk for r in reversed(failed)]
    assert [row[LEDGER_HEADERS.index("message")] for row in rows[1:]] == [
        r.message for r in reversed(failed)
    ]


def test_export_needs_the_ledger_view_permission(db):
    clerk = UserFactory(username="clerk", is_staff=True)
    assert api(clerk).get("/api/records/export/csv/").status_code == 403
    assert APIClient().get("/api/records/export/csv/").status_code in (401, 403)
