"""Each transform on its own, through a one-row mapping (the way rows use them)."""

from decimal import Decimal
from typing import Any

import pytest

from mappings.engine import (
    Aggregation,
    CompileError,
    ErrorCode,
    FieldRow,
    MappingSpec,
    Outcome,
    Transform,
    compile_mapping,
)


def run(value: Any, *transforms: Transform, targets: tuple[str, ...] = ("Out",)) -> Any:
    plan = compile_mapping(MappingSpec(rows=(FieldRow(1, ("In",), targets, transforms),)))
    return plan.apply({"In": value})


def mapped(value: Any, *transforms: Transform) -> Any:
    result = run(value, *transforms)
    assert result.outcome is Outcome.MAPPED, result.problems
    return result.record.get("Out")


def problem(value: Any, *transforms: Transform):
    result = run(value, *transforms)
    assert result.outcome is Outcome.FAILED
    (found,) = result.problems
    return found


def test_trim_upper_lower():
    assert mapped("  a b ", Transform("trim")) == "a b"
    assert mapped("abc", Transform("upper")) == "ABC"
    assert mapped("ABC", Transform("lower")) == "abc"
    assert mapped(12, Transform("upper")) == "12"


def test_text_turns_numbers_into_text():
    assert mapped(Decimal("1.50"), Transform("text")) == "1.50"
    assert mapped(7, Transform("text")) == "7"


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("03/12/2024", "MM/DD/YYYY", "2024-03-12"),
        ("12/03/2024", "DD/MM/YYYY", "2024-03-12"),
        ("3/1/24", "MM/DD/YY", "2024-03-01"),
        ("2024-03-12T10:11:12", "YYYY-MM-DDTHH:mm:ss", "2024-03-12"),
    ],
)
def test_date_reads_explicit_formats(value, fmt, expected):
    assert mapped(value, Transform("date", {"from": fmt})) == expected


def test_date_writes_requested_format_and_tries_formats_in_order():
    transform = Transform("date", {"from": ["YYYY-MM-DD", "DD/MM/YYYY"], "to": "DD.MM.YYYY"})
    assert mapped("2024-03-12", transform) == "12.03.2024"
    assert mapped("12/03/2024", transform) == "12.03.2024"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/Date(1573603200000+0000)/", "2019-11-13 00:00"),
        ("/Date(1573603200000)/", "2019-11-13 00:00"),
        (" /Date(1573603200000+1300)/ ", "2019-11-13 13:00"),
        ("/Date(1573560000000+1300)/", "2019-11-13 01:00"),  # 12:00 UTC is the 13th in NZ
        ("/Date(1573560000000-0530)/", "2019-11-12 06:30"),
        ("/Date(-86400000+0000)/", "1969-12-31 00:00"),
    ],
)
def test_date_reads_xero_json_dates_at_their_offset(value, expected):
    transform = Transform("date", {"from": "XERO", "to": "YYYY-MM-DD HH:mm"})
    assert mapped(value, transform) == expected


def test_xero_format_is_one_of_several_and_case_blind():
    transform = Transform("date", {"from": ["DD/MM/YYYY", "xero"]})
    assert mapped("/Date(1573603200000+0000)/", transform) == "2019-11-13"
    assert mapped("13/11/2019", transform) == "2019-11-13"


@pytest.mark.parametrize(
    "value",
    ["/Date(abc)/", "/Date(1573603200000+13)/", "Date(1573603200000)", "/Date(9999999999999999)/"],
)
def test_bad_xero_date_is_a_data_problem(value):
    found = problem(value, Transform("date", {"from": "XERO"}))
    assert found.code is ErrorCode.INVALID_DATE
    assert found.message.startswith(f"{value!r} is not a valid date")


def test_xero_is_not_a_target_format():
    with pytest.raises(CompileError) as caught:
        run("13/11/2019", Transform("date", {"from": "DD/MM/YYYY", "to": "XERO"}))
    (found,) = caught.value.problems
    assert found.field == "transforms[0].args.to"
    assert "source format only" in found.message


def test_unknown_date_format_names_the_xero_option():
    with pytest.raises(CompileError) as caught:
        run("13/11/2019", Transform("date", {"from": "ISO"}))
    assert "XERO" in caught.value.problems[0].message


def test_invalid_date_is_a_data_problem_naming_the_value():
    found = problem("31/02/2024", Transform("date", {"from": "DD/MM/YYYY"}))
    assert found.code is ErrorCode.INVALID_DATE
    assert found.kind == "data"
    assert "'31/02/2024'" in found.message
    assert found.field == "Out"


def test_decimal_rounds_with_places_and_mode():
    assert mapped("2.345", Transform("decimal", {"places": 2})) == Decimal("2.35")
    assert mapped("2.345", Transform("decimal", {"places": 2, "rounding": "half_even"})) == (
        Decimal("2.34")
    )
    assert mapped("2.349", Transform("decimal", {"places": 2, "rounding": "down"})) == (
        Decimal("2.34")
    )
    assert mapped(1.1, Transform("decimal")) == Decimal("1.1")
    assert mapped(" 10 ", Transform("decimal")) == Decimal("10")


@pytest.mark.parametrize("value", ["abc", "1,234.50", "NaN", "1e99", True, [1]])
def test_decimal_refuses_non_numbers(value):
    assert problem(value, Transform("decimal", {"places": 2})).code is ErrorCode.INVALID_NUMBER


def test_integer_from_decimal_and_text():
    assert mapped("12", Transform("integer")) == 12
    assert mapped(Decimal("12.0"), Transform("integer")) == 12
    assert mapped("12.5", Transform("integer", {"rounding": "half_up"})) == 13
    assert problem("12.5", Transform("integer")).code is ErrorCode.INVALID_NUMBER


def test_decimal_to_integer_and_back_in_one_chain():
    chain = (Transform("decimal", {"places": 0}), Transform("integer"), Transform("text"))
    assert mapped("41.6", *chain) == "42"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("No", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        (0, False),
        ("Y", True),
        ("n", False),
        (True, True),
    ],
)
def test_boolean_parsing(value, expected):
    assert mapped(value, Transform("boolean")) is expected


def test_boolean_refuses_anything_else():
    assert problem("maybe", Transform("boolean")).code is ErrorCode.INVALID_BOOLEAN


def test_split_picks_a_part_or_keeps_the_list():
    assert mapped("a-b-c", Transform("split", {"separator": "-", "index": 1})) == "b"
    assert mapped("a-b-c", Transform("split", {"separator": "-", "index": -1})) == "c"
    assert "Out" not in run("a", Transform("split", {"separator": "-", "index": 3})).record
    assert mapped("a, b", Transform("split", {"separator": ","})) == ["a", "b"]


def test_concat_joins_lists_and_wraps_text():
    assert mapped("123", Transform("concat", {"before": "INV-", "after": "/A"})) == "INV-123/A"
    joined = (Transform("split", {"separator": " "}), Transform("concat", {"separator": "_"}))
    assert mapped("a b", *joined) == "a_b"


def test_default_fills_empty_values_only():
    assert mapped(None, Transform("default", {"value": "200"})) == "200"
    assert mapped("  ", Transform("default", {"value": "200"})) == "200"
    assert mapped("400", Transform("default", {"value": "200"})) == "400"


def test_constant_ignores_the_source():
    assert mapped("x", Transform("constant", {"value": "ACCREC"})) == "ACCREC"


def test_address_parsing_uk_and_us_into_several_targets():
    targets = ("Address1", "Address2", "Postcode")
    uk = run(
        "10 Downing Street, Westminster, London sw1a2aa", Transform("address"), targets=targets
    )
    assert uk.record == {
        "Address1": "10 Downing Street",
        "Address2": "Westminster, London",
        "Postcode": "SW1A 2AA",
    }
    us = run(
        "1600 Amphitheatre Pkwy\nMountain View, CA 94043",
        Transform("address", {"country": "us"}),
        targets=targets,
    )
    assert us.record == {
        "Address1": "1600 Amphitheatre Pkwy",
        "Address2": "Mountain View, CA",
        "Postcode": "94043",
    }
    no_postcode = run("Unit 4, Leeds", Transform("address", {"lines": 3}), targets=targets)
    assert no_postcode.record == {"Address1": "Unit 4", "Address2": "Leeds"}


def test_none_passes_through_conversions():
    for transform in (Transform("trim"), Transform("decimal"), Transform("boolean")):
        assert run(None, transform).record == {}


TYPED = [
    Transform("decimal", {"places": 2}),
    Transform("decimal"),
    Transform("integer"),
    Transform("boolean"),
    Transform("date", {"from": "DD/MM/YYYY"}),
]
BLANKS = [None, "", " ", "\t\n", "\u00a0"]


def blank_plan(transform: Transform, **defaults: Any):
    row = FieldRow(1, ("In",), ("Out",), (transform,))
    return compile_mapping(MappingSpec(rows=(row,), defaults=defaults))


@pytest.mark.parametrize("transform", TYPED, ids=lambda t: t.name)
@pytest.mark.parametrize("blank", BLANKS, ids=repr)
def test_a_blank_gives_no_value_so_defaults_apply(transform, blank):
    """SYSPRO's "" and another system's missing field end the same way, for every typed
    transform: the target is left out and the mapping's default fills it."""
    plan = blank_plan(transform, Out="from default")
    for record in ({"In": blank}, {}):
        result = plan.apply(record)
        assert result.outcome is Outcome.MAPPED, result.problems
        assert result.record == {"Out": "from default"}


@pytest.mark.parametrize("name", ["decimal", "integer", "boolean", "date"])
@pytest.mark.parametrize("blank", BLANKS, ids=repr)
def test_blank_fail_fails_the_record_saying_the_value_is_blank(name, blank):
    args = {"blank": "fail", **({"from": "DD/MM/YYYY"} if name == "date" else {})}
    result = blank_plan(Transform(name, args)).apply({"In": blank})
    assert result.outcome is Outcome.FAILED
    (found,) = result.problems
    assert found.code is ErrorCode.BLANK_VALUE and found.kind == "data"
    assert f'"{name}": the value is blank' in found.message
    assert "In" in found.message  # names the source field


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        (Transform("decimal", {"places": 2, "blank": "0"}), Decimal("0.00")),
        (Transform("integer", {"blank": 0}), 0),
        (Transform("boolean", {"blank": "no"}), False),
        (Transform("date", {"from": "DD/MM/YYYY", "blank": "01/01/2000"}), "2000-01-01"),
    ],
    ids=lambda x: getattr(x, "name", None),
)
@pytest.mark.parametrize("blank", BLANKS, ids=repr)
def test_blank_replacement_is_converted_like_a_source_value(transform, expected, blank):
    result = blank_plan(transform).apply({"In": blank})
    assert result.outcome is Outcome.MAPPED, result.problems
    assert repr(result.record["Out"]) == repr(expected)
    assert blank_plan(transform).apply({"In": "3"}).outcome in (Outcome.MAPPED, Outcome.FAILED)


@pytest.mark.parametrize(
    ("transform", "words"),
    [
        (Transform("decimal", {"blank": "abc"}), "'abc' is not a number"),
        (Transform("boolean", {"blank": "maybe"}), "not yes/no"),
        (Transform("date", {"from": "DD/MM/YYYY", "blank": "2000-01-01"}), "not a valid date"),
        (Transform("integer", {"blank": " "}), 'blank must be "empty", "fail" or a value'),
    ],
    ids=lambda x: getattr(x, "name", None),
)
def test_a_blank_replacement_the_transform_cannot_read_is_refused_on_save(transform, words):
    with pytest.raises(CompileError) as caught:
        blank_plan(transform)
    (found,) = caught.value.problems
    assert found.code is ErrorCode.INVALID_TRANSFORM_ARGS
    assert found.field == "transforms[0].args.blank"
    assert words in found.message


def test_blank_quantity_or_price_gives_no_line_amount():
    row = FieldRow(1, ("Lines[].Qty", "Lines[].Price"), ("Items[].Amount",), combine="multiply")
    plan = compile_mapping(MappingSpec(rows=(row,), defaults={"Items[].Amount": "0"}))
    for qty, price in (("", "2"), ("  ", "2"), ("3", " "), (None, "2")):
        result = plan.apply({"Lines": [{"Qty": qty, "Price": price}]})
        assert result.outcome is Outcome.MAPPED, result.problems
        assert result.record["Items"] == [{"Amount": "0"}]


def test_blank_amounts_add_nothing_when_lines_are_aggregated():
    rows = (
        FieldRow(1, ("Lines[].Account",), ("Items[].Account",)),
        FieldRow(2, ("Lines[].Amount",), ("Items[].Amount",)),  # copied as sent, blanks too
    )
    plan = compile_mapping(
        MappingSpec(rows=rows, aggregations=(Aggregation(1, "Items", ("Account",), ("Amount",)),))
    )
    lines = [
        {"Account": "200", "Amount": " "},
        {"Account": "200", "Amount": "2.50"},
        {"Account": "200", "Amount": ""},
        {"Account": "260", "Amount": ""},
    ]
    result = plan.apply({"Lines": lines})
    assert result.outcome is Outcome.MAPPED, result.problems
    assert result.record["Items"] == [
        {"Account": "200", "Amount": Decimal("2.50")},
        {"Account": "260"},
    ]
