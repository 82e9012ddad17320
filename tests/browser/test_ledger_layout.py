"""The ledger list reads on a laptop, a big screen and a phone: measured in the browser.

What a finance user scans for (status, error code, message, business key) must
be on screen without scrolling sideways, and enough records must fit one screen
to work through a morning's failures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clarity.models import RecordStatus
from tests.browser.conftest import VIEWPORTS, no_sideways_scroll
from tests.factories import FlowFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = (
    "No entry for 'LEGACY-001' in the lookup table \"SYSPRO stock code → Xero account code\" "
    "(LineItems[3].AccountCode from SalesOrderLine[3].StockCode, line 4; row 7: stock code "
    "to account code for every invoice line of every sales order that SYSPRO sends)"
)
# Columns that must be wholly on screen, per width: {viewport: (column classes, rows)}.
MUST_SHOW = {
    "laptop": (("status", "error_code", "short_message", "business_key"), 15),
    "desktop": (("status", "error_code", "short_message", "business_key"), 25),
    "phone": (("status", "short_message"), 1),
}


# Whether a person sees the element whole: the page's topmost element at both ends
# of it is the element itself (or inside it), so nothing clips or covers it.
SEEN = """cell => {
  const r = cell.getBoundingClientRect();
  const y = r.top + r.height / 2;
  const hits = [r.left + 2, r.right - 2].map(x => document.elementFromPoint(x, y));
  return {
    seen: hits.every(h => h !== null && (h === cell || cell.contains(h))),
    left: r.left, right: r.right,
    hits: hits.map(h => h ? `${h.tagName.toLowerCase()}.${[...h.classList].join('.')}` : 'nothing'),
  };
}"""


@pytest.fixture
def busy_ledger():
    """A morning's ledger: long flow names, long messages, assignees and tags."""
    flows = [
        FlowFactory(name="Sales orders → Invoices (with the long description)"),
        FlowFactory(name="Customers → Contacts"),
    ]
    finance = UserFactory(username="finance1", role="Finance")
    for i in range(60):
        RecordFactory(
            flow=flows[i % 2],
            source_id=f"SO-{100000 + i}",
            business_key=f"INV-{i:05d}",
            target_id=f"8c1f6a0e-2b4d-4c1e-9a7f-{i:012d}",
            status=RecordStatus.FAILED,
            error_kind="data",
            error_code="lookup_missing" if i % 3 else "contact_not_found",
            message=MESSAGE,
            assigned_to=finance if i % 4 == 0 else None,
            tags="month-end, vat" if i % 5 == 0 else "",
        )


@pytest.mark.parametrize("viewport", list(MUST_SHOW))
def test_the_ledger_list_shows_what_finance_scans_for(people, viewport, busy_ledger):
    finance = people("finance")
    finance.log_in("finance1")
    page = finance.page
    assert finance.goto("/admin/clarity/syncrecord/?status=failed") == 200
    page.evaluate("window.scrollTo(0, 0)")
    finance.shot("ledger")
    size = VIEWPORTS[viewport]
    columns, min_rows = MUST_SHOW[viewport]

    first = page.locator("#result_list tbody tr").first
    for column in columns:
        for cell in (
            page.locator(f"#result_list thead th.column-{column}"),
            first.locator(f".field-{column}"),
        ):
            where = cell.evaluate(SEEN)
            assert where["seen"], (
                f"{column} spans x={where['left']:.0f}..{where['right']:.0f} on a "
                f"{size['width']}x{size['height']} screen; at its edges the screen shows "
                f"{where['hits']}"
            )
    # The message cell shows the message's start, not an empty sliver.
    message = first.locator(".field-short_message").bounding_box()
    assert message is not None and message["width"] >= 150

    tops = page.eval_on_selector_all(
        "#result_list tbody tr", "rows => rows.map(r => r.getBoundingClientRect().bottom)"
    )
    on_screen = sum(1 for bottom in tops if bottom <= size["height"])
    assert on_screen >= min_rows, f"{on_screen} records on a {size['height']}px-high screen"
    no_sideways_scroll(page)


@pytest.mark.parametrize("viewport", ["laptop"])
def test_a_5mb_record_opens_quickly_and_downloads_whole(people, viewport):
    line = {"StockCode": "A100", "Description": "Widget " * 8, "Qty": 1, "Price": "12.50"}
    payload = {"Lines": [dict(line, Line=i) for i in range(50_000)]}  # about 5 MB of JSON
    record = RecordFactory(
        status=RecordStatus.FAILED,
        error_kind="data",
        error_code="invalid_line",
        source_payload=payload,
        transformed_payload=payload,
        target_response=payload,
    )
    UserFactory(username="finance1", role="Finance")
    finance = people("finance")
    finance.log_in("finance1")
    page = finance.page
    assert finance.goto(f"/admin/clarity/syncrecord/{record.pk}/change/") == 200
    # What the browser spends on the page once it has it (9.5 s for 9.3 MB of HTML before).
    drawing = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return n.loadEventEnd - n.responseEnd; })()"
    )
    size = page.evaluate("document.documentElement.outerHTML.length")
    finance.shot("big-record")
    assert size < 200_000, size
    assert drawing < 1_500, f"{drawing:.0f} ms to draw the record"
    link = page.locator(".field-payloads a", has_text="Download the whole payload (JSON)").first
    with page.expect_download() as download:
        finance.press(link)
    assert json.loads(Path(download.value.path()).read_text()) == payload
