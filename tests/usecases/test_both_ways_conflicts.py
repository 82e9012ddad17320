"""Customers synced both ways: an edit on one side crosses once; an edit on both sides
follows the source of truth (KashFlow, in the template). Real workers and sandboxes."""

from __future__ import annotations

import pytest

from clarity.models import RecordStatus, SyncRecord
from tests.usecases.sf_kf_fixtures import (
    ACCOUNTS,
    CUSTOMERS_TO_ACCOUNTS,
    CUSTOMERS_TO_CONTACTS,
    SfKf,
    sf_kf,  # noqa: F401 (a fixture)
)

pytestmark = pytest.mark.django_db(transaction=True)  # the workers commit


def settled(uc: SfKf) -> tuple[str, str]:
    """Run the first exchange; returns a customer code linked on both sides, its Account id."""
    for name in (CUSTOMERS_TO_ACCOUNTS, CUSTOMERS_TO_CONTACTS, ACCOUNTS):
        uc.run(name)
    code = next(c for c in sorted(uc.kf_app.customers) if c not in ("NON01", "NWT001"))
    (account,) = uc.soql(f"SELECT Id FROM Account WHERE ExternalID__c = '{code}'")  # noqa: S608
    return code, account["Id"]


def edit_account(uc: SfKf, account_id: str, **fields: str) -> None:
    uc.sf()._call("PATCH", f"sobjects/Account/{account_id}", json=fields)


def edit_customer(uc: SfKf, code: str, **fields: str) -> None:
    (outcome,) = uc.kf().write_batch("customers", [{"Code": code, **fields}])
    assert outcome.ok, outcome.message


def latest(uc: SfKf, flow: str, **filters: str) -> SyncRecord:
    return SyncRecord.objects.filter(flow=uc.flow(flow), **filters).latest("pk")


def test_an_edit_on_one_side_crosses_once_and_does_not_come_back(sf_kf):  # noqa: F811
    uc = sf_kf()
    code, account_id = settled(uc)

    edit_account(uc, account_id, Name="Renamed in Salesforce Ltd")
    uc.run(ACCOUNTS)
    assert uc.kf().read_one("customers", code)["Name"] == "Renamed in Salesforce Ltd"
    assert latest(uc, ACCOUNTS, source_id=account_id).status == RecordStatus.SUCCEEDED

    # KashFlow stamped a new version on the customer: the next poll reads it, and
    # skips it, since Salesforce already holds every value it would send.
    before = uc.writes()
    uc.run(CUSTOMERS_TO_ACCOUNTS)
    echo = latest(uc, CUSTOMERS_TO_ACCOUNTS, source_id=code)
    assert echo.status == RecordStatus.SKIPPED
    assert "No change to send" in echo.message
    uc.run(ACCOUNTS)
    assert uc.writes() == before


def test_an_edit_on_both_sides_keeps_the_source_of_truths(sf_kf):  # noqa: F811
    uc = sf_kf()
    code, account_id = settled(uc)

    edit_customer(uc, code, Name="Renamed in KashFlow Ltd")
    edit_account(uc, account_id, Name="Renamed in Salesforce Ltd")
    # Salesforce's edit is read first; KashFlow, the customers' source of truth, changed too.
    uc.run(ACCOUNTS)
    lost = latest(uc, ACCOUNTS, source_id=account_id)
    assert lost.status == RecordStatus.SKIPPED
    assert "Changed in both" in lost.message
    assert "KashFlow is the source of truth" in lost.message
    assert uc.kf().read_one("customers", code)["Name"] == "Renamed in KashFlow Ltd"

    uc.run(CUSTOMERS_TO_ACCOUNTS)
    (account,) = uc.soql(f"SELECT Name FROM Account WHERE Id = '{account_id}'")  # noqa: S608
    assert account["Name"] == "Renamed in KashFlow Ltd"
    # Both sides agree now: nothing more moves either way.
    before = uc.writes()
    uc.run(ACCOUNTS)
    uc.run(CUSTOMERS_TO_ACCOUNTS)
    assert uc.writes() == before
