"""The one "already held there?" rule set (connectors/compare.py), on values as the
systems send them back, and its laws over any values (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.compare import already_held, same_value

SAME = [
    (None, ""),
    ("", "   "),
    (" Acme Ltd ", "Acme Ltd"),
    ("12.50", 12.5),  # Salesforce answers a currency as a number
    (100, 100.0),  # KashFlow's 100.0 for 100
    (Decimal("0.10"), 0.1),
    (0.1, "0.1"),  # a float by its shortest repr, not its binary value
    ("2026-03-01T09:00:00Z", "2026-03-01T09:00:00.000+0000"),  # Salesforce's own spelling
    ("2026-03-01T09:00:00", "2026-03-01T09:00:00+00:00"),  # no zone: UTC (KashFlow)
    ("2026-03-01T10:00:00+01:00", "2026-03-01T09:00:00Z"),
    ("2026-03-01", "2026-03-01T00:00:00"),  # KashFlow answers a date as its midnight
    (date(2026, 3, 1), "2026-03-01"),
    (datetime(2026, 3, 1, 9, tzinfo=UTC), "2026-03-01T09:00:00Z"),
    (True, True),
    ("2026-04-09", "/Date(1775692800000+0000)/"),  # Xero's JSON date: ms since the epoch, UTC
    ("2026-04-09T01:00:00+01:00", "/Date(1775692800000)/"),
]
DIFFERENT = [
    ("007", "7"),  # codes are text: two texts compare as text
    ("12.50", "12.5"),
    (True, 1),
    (False, 0),
    (False, None),
    (0, None),
    (0, ""),
    ("x", None),
    ("2026-04-10", "/Date(1775692800000+0000)/"),
    ("Acme", "acme"),
    ("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z"),
    ("2026-03-01", "2026-03-02"),
    (12.5, "twelve and a half"),
    (float("nan"), float("nan")),
]


@pytest.mark.parametrize(("sent", "held"), SAME)
def test_the_same_value_as_a_system_stores_it(sent: Any, held: Any) -> None:
    assert same_value(sent, held) and same_value(held, sent)


@pytest.mark.parametrize(("sent", "held"), DIFFERENT)
def test_a_different_value(sent: Any, held: Any) -> None:
    assert not same_value(sent, held) and not same_value(held, sent)


def test_only_what_is_sent_is_compared_and_meta_fields_are_ignored() -> None:
    held = {
        "attributes": {"type": "Account"},
        "Id": "001A",
        "Name": "Acme",
        "Phone": None,
        "Extra": 1,
    }
    assert already_held({"Name": "Acme", "Phone": ""}, held)
    assert not already_held({"Name": "Acme", "Phone": "01"}, held)
    assert already_held({"Id": "other", "Name": "Acme"}, held, ignore=("attributes", "Id"))
    assert not already_held({"Id": "other", "Name": "Acme"}, held)


def test_nested_records_and_lines_compare_field_by_field_and_in_order() -> None:
    held = {"Account": {"ExternalID__c": "NWT001"}, "Lines": [{"Code": "A", "Qty": 1.0}]}
    assert already_held({"Account": {"ExternalID__c": "NWT001"}}, held)
    assert already_held({"Lines": [{"Code": "A", "Qty": 1}]}, held)
    assert not already_held({"Lines": [{"Code": "A"}, {"Code": "B"}]}, held)
    assert not already_held({"Lines": {"Code": "A"}}, held)
    assert not already_held({"Address": {"Line1": "x"}}, {"Address": "x"})
    assert already_held({"Address": {"Line1": ""}}, {})  # nothing to write


# -- laws, over any values ---------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.dates().map(date.isoformat),
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(values)
def test_every_value_is_held_by_itself(value: Any) -> None:
    assert already_held(value, value)


@given(scalars, scalars)
def test_same_value_is_symmetric(a: Any, b: Any) -> None:
    assert same_value(a, b) == same_value(b, a)


@given(st.dictionaries(st.text(max_size=5), values, max_size=4), st.text(max_size=5), values)
def test_a_copy_with_more_fields_still_holds_the_record(
    record: dict[str, Any], name: str, extra: Any
) -> None:
    assert already_held(record, {name: extra, **record})


# Integers a JSON float holds exactly: what the systems send as numbers.
exact = st.integers(min_value=-(2**53), max_value=2**53)


@given(exact, st.integers(min_value=0, max_value=4))
def test_a_number_is_held_in_any_decimal_spelling(number: int, places: int) -> None:
    spelt = f"{Decimal(number):.{places}f}"
    assert same_value(spelt, number) and same_value(float(number), spelt)
