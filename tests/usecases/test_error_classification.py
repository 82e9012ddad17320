"""Failures classified from what the target answered, through the real flows of the
shipped Salesforce ↔ KashFlow template (real RQ worker, Redis, PostgreSQL, sandboxes)."""

from __future__ import annotations

import pytest

from clarity.models import ErrorKind, RecordStatus
from tests.usecases.sf_kf_fixtures import (
    ACCOUNTS,
    CUSTOMERS_TO_CONTACTS,
    sf_kf,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_contact_whose_account_id_two_accounts_share_fails_as_data_naming_it(sf_kf):  # noqa: F811
    """The demo's Contact of Northwind: two Salesforce Accounts have ExternalID__c NWT001
    (one spelt nwt001). Salesforce answers DUPLICATE_EXTERNAL_ID, which is the data's
    fault, for finance to sort out in Salesforce — not the mapping's (INVALID_FIELD)."""
    uc = sf_kf()
    uc.run(ACCOUNTS)  # Salesforce Accounts → KashFlow customers: NWT001 reaches KashFlow
    uc.run(CUSTOMERS_TO_CONTACTS)

    (northwind,) = uc.records(CUSTOMERS_TO_CONTACTS, business_key="NWT001")
    assert northwind.status == RecordStatus.FAILED
    assert (northwind.error_kind, northwind.error_code) == (
        ErrorKind.DATA,
        "duplicate_external_id",
    )
    assert "Account with ExternalID__c 'NWT001'" in northwind.message
    assert "more than one Account in Salesforce" in northwind.message
    assert "mapping" not in northwind.message
    # Every other customer's Contact reached its Account.
    others = uc.records(CUSTOMERS_TO_CONTACTS, status=RecordStatus.FAILED)
    assert [r.business_key for r in others if r.error_kind != ErrorKind.DATA] == []
