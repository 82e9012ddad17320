"""A finance user finds a failed record, reads why, has it fixed and retried, and sees it
succeed: the SYSPRO ↔ Xero template against both sandboxes, real RQ workers, the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from clarity.models import RecordStatus
from tests.browser.conftest import no_sideways_scroll, usable
from tests.factories import UserFactory
from tests.usecases.conftest import syspro_xero_usecase  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = "Customers → Contacts"
ORDERS = "Sales orders → Invoices"
ORDER, STOCK_CODE = "100027", "LEGACY-001"  # the SYSPRO sandbox's unmapped stock code
LOOKUP = "SYSPRO stock code → Xero account code"


def test_finance_retries_a_failed_record_once_the_lookup_is_fixed(
    people,
    syspro_xero_usecase,  # noqa: F811
):
    usecase = syspro_xero_usecase()
    usecase.run(CUSTOMERS)
    usecase.run(ORDERS)
    record = usecase.ledger(ORDERS, ORDER)
    assert record.status == RecordStatus.FAILED
    UserFactory(username="finance1", role="Finance")
    UserFactory(username="consultant1", role="Consultant")

    finance = people("finance")
    finance.log_in("finance1")
    page = finance.page

    # 1. The failed records, narrowed to the order the customer asked about.
    finance.press(page.get_by_role("link", name="Ledger", exact=True))
    filters = page.locator("#changelist-filter")
    finance.press(filters.get_by_role("link", name="Failed", exact=True))
    expect(page.locator("#changelist-filter li.selected", has_text="Failed")).to_be_visible()
    rows = page.locator("#result_list tbody tr")
    expect(rows.filter(has_text=STOCK_CODE)).to_have_count(1)
    no_sideways_scroll(page)
    finance.shot("failed-records")
    search = page.locator("#searchbar")
    finance.press(search)
    search.fill(ORDER)
    search.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("lookup_missing")
    finance.shot("searched")

    # 2. The record, and why it failed: the stock code and the lookup that lacks it.
    finance.press(rows.first.locator("th a"))
    why = page.locator(".field-problem .readonly")
    finance.press(why)  # on screen, within the width
    expect(why).to_contain_text(f"'{STOCK_CODE}'")
    expect(why).to_contain_text(LOOKUP)
    expect(page.locator(".field-status .readonly")).to_have_text("Failed")
    no_sideways_scroll(page)
    finance.shot("why-it-failed")

    # 3. The consultant (finance has no lookup permission) adds the missing entry.
    consultant = people("consultant")
    consultant.log_in("consultant1")
    other = consultant.page
    consultant.press(other.get_by_role("link", name="Lookup entries", exact=True))
    consultant.press(other.get_by_role("link", name="Add lookup entry"))
    for label, value in (("Key", STOCK_CODE), ("Value", "260")):
        usable(other, other.get_by_label(label))
        other.get_by_label(label).fill(value)
    usable(other, other.get_by_label("Table"))
    other.get_by_label("Table").select_option(label=LOOKUP)
    consultant.shot("lookup-entry")
    consultant.press(other.get_by_role("button", name="Save", exact=True))
    expect(other.locator(".messagelist")).to_contain_text("was added successfully")

    # 4. Finance retries it from the filtered list: it leaves the failed ones, pending.
    finance.press(page.get_by_role("link", name="Close"))
    expect(rows).to_have_count(1)
    finance.press(rows.first.locator("input.action-select"))
    action = page.locator("select[name=action]")
    usable(page, action)
    action.select_option(label="Retry selected records")
    finance.press(page.get_by_role("button", name="Go", exact=True))
    expect(page.locator(".messagelist")).to_contain_text("1 record(s) queued to be sent again")
    expect(rows).to_have_count(0)  # no longer among the failed: waiting to be sent
    no_sideways_scroll(page)
    finance.shot("retry-queued")
    finance.goto(f"/admin/clarity/syncrecord/{record.pk}/change/")
    status = page.locator(".field-status .readonly")
    expect(status).to_have_text("Pending")

    # 5. A worker sends it again (here, in the test's own process); the reloaded page says
    # it succeeded, with the invoice's id in Xero.
    usecase.work()
    page.reload()
    finance.press(status)
    expect(status).to_have_text("Succeeded")
    record.refresh_from_db()
    assert record.status == RecordStatus.SUCCEEDED, record.message
    expect(page.locator(".fieldBox.field-target_id .readonly")).to_have_text(record.target_id)
    expect(page.locator(".ledger-audit tbody tr").first).to_contain_text("finance1")
    no_sideways_scroll(page)  # a succeeded record has no payload editor: it fits
    finance.shot("succeeded")
