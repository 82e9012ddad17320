"""Salesforce's batched lookup by field values (#16), against the sandbox over HTTP: SOQL
``LIKE`` (case-insensitive in Salesforce) on a word of each value, 200 to a query."""

from __future__ import annotations

from connectors.base import match_text
from connectors.salesforce import SalesforceConnector
from connectors.sandbox.control import SandboxControl
from tests.connectors.salesforce.test_connector import (  # noqa: F401 - the fixtures
    make,
    running,
    server,
    sf,
)


def test_a_name_typed_in_another_case_and_spacing_is_a_candidate(
    sf: SalesforceConnector,  # noqa: F811 - the imported fixture
):
    [typed] = sf.write_batch("Account", [{"Name": "ACME   Widgets  ltd"}])
    found = sf.find_by_fields("Account", "Name", ["Acme Widgets Ltd", "Nobody At All"])
    assert [f.target_id for f in found if match_text(f.record["Name"]) == "acme widgets ltd"] == [
        typed.target_id
    ]


def test_many_values_are_asked_in_few_queries(
    sf: SalesforceConnector,  # noqa: F811 - the imported fixtures
    server,  # noqa: F811
):
    names = [f"Bulk Account {n:03d}" for n in range(150)]
    for start in range(0, 150, 50):
        sf.write_batch("Account", [{"Name": n} for n in names[start : start + 50]])
    control = SandboxControl(server.url)
    before = control.stats()["requests"]
    found = sf.find_by_fields("Account", "Name", [n.upper() for n in names])
    asked = control.stats()["requests"] - before
    assert {match_text(n) for n in names} <= {match_text(f.record["Name"]) for f in found}
    assert asked <= 8, asked  # one query (and its next pages), not 150
