"""A finance user is refused the credentials and the mappings, in the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import no_sideways_scroll
from tests.factories import ConnectionFactory, UserFactory
from tests.mappings.factories import FieldMappingRowFactory, LookupTableFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_is_refused_connections_and_mappings(people):
    connection = ConnectionFactory(name="Xero live")
    row = FieldMappingRowFactory()
    table = LookupTableFactory(name="Tax codes")
    UserFactory(username="finance1", role="Finance")

    finance = people("finance")
    finance.log_in("finance1")
    page = finance.page
    no_sideways_scroll(page)
    # The home page offers the ledger, and neither credentials nor mappings.
    expect(page.get_by_role("link", name="Ledger", exact=True)).to_be_visible()
    content = page.locator("#content-main")
    for refused in ("Connections", "Mappings", "Lookup tables"):
        expect(content.get_by_role("link", name=refused, exact=True)).to_have_count(0)
    finance.shot("home")

    refused = {
        "connections": "/admin/connectors/connection/",
        "connection": f"/admin/connectors/connection/{connection.pk}/change/",
        "mappings": "/admin/mappings/mapping/",
        "mapping": f"/admin/mappings/mapping/{row.mapping_id}/change/",
        "try-it": f"/admin/mappings/mapping/{row.mapping_id}/try/",
        "lookup-table": f"/admin/mappings/lookuptable/{table.pk}/change/",
        "lookup-import": "/admin/mappings/lookupentry/import/",
    }
    for name, path in refused.items():
        assert finance.goto(path) == 403, path
        expect(page.get_by_role("heading", name="Not open to your role")).to_be_visible()
        expect(page.locator("#content-main")).to_contain_text("ask an administrator")
        expect(page.locator("body")).not_to_contain_text("Xero live")
        if name in ("connections", "mapping"):
            finance.shot(f"refused-{name}")
