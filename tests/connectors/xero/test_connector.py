"""XeroConnector.find_by_field: the read-only look-up behind "link to the existing contact"."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import ConnectorError, ErrorKind
from connectors.xero import XeroConnector


@pytest.mark.parametrize(
    "name",
    ['O\'Brien "Best" Foods', "Back\\slash & Co", "Ünïcode GmbH", "  Padded Ltd"],
)
def test_finds_a_contact_by_name_whatever_its_case_or_quotes(xero: XeroConnector, name: str):
    [saved] = xero.write_batch("Contacts", [{"Name": name}])
    assert saved.ok, saved.message
    for asked in (name, name.upper(), name.lower()):
        found = xero.find_by_field("Contacts", "Name", asked)
        assert found is not None, asked
        assert found.target_id == saved.target_id


def test_nothing_found_is_none_and_an_odd_field_is_refused(xero: XeroConnector):
    assert xero.find_by_field("Contacts", "Name", "Nobody by this name Ltd") is None
    with pytest.raises(ConnectorError) as refused:
        xero.find_by_field("Contacts", 'Name=="x" OR 1', "x")
    assert refused.value.kind is ErrorKind.CONFIG


def test_finds_an_item_by_code(xero: XeroConnector):
    [saved] = xero.write_batch("Items", [{"Code": "LINK-1", "Name": "Link test item"}])
    assert saved.ok, saved.message
    found = xero.find_by_field("Items", "Code", "link-1")
    assert found is not None and found.target_id == saved.target_id


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
)
def test_any_name_is_quoted_safely(xero: XeroConnector, name: str):
    """Whatever the name, the query is well formed: found (if Xero holds it) or None."""
    found = xero.find_by_field("Contacts", "Name", name)
    assert found is None or found.record["Name"].strip().lower() == name.strip().lower()
