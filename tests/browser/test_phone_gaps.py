"""Pages with wide text areas fit a phone's width (390 px): no sideways scrolling."""

from __future__ import annotations

import pytest

from clarity.models import RecordStatus
from tests.browser.conftest import no_sideways_scroll
from tests.factories import RecordFactory, UserFactory
from tests.mappings.factories import FieldMappingRowFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.parametrize("viewport", ["phone"]),
]


def test_try_it_page_fits_a_phone(people):
    row = FieldMappingRowFactory()
    UserFactory(username="consultant1", role="Consultant")
    consultant = people("consultant")
    consultant.log_in("consultant1")
    assert consultant.goto(f"/admin/mappings/mapping/{row.mapping_id}/try/") == 200
    consultant.shot("try-it")
    no_sideways_scroll(consultant.page)


def test_ledger_record_page_fits_a_phone(people):
    record = RecordFactory(
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code="lookup_missing",
        message="no entry for 'LEGACY-001' in lookup \"SYSPRO stock code → Xero account code\"",
        transformed_payload={"InvoiceNumber": "SO-100027", "LineItems": []},
    )
    UserFactory(username="finance1", role="Finance")
    finance = people("finance")
    finance.log_in("finance1")
    assert finance.goto(f"/admin/clarity/syncrecord/{record.pk}/change/") == 200
    finance.shot("failed-record")
    no_sideways_scroll(finance.page)
