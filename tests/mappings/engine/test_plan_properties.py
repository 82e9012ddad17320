"""apply() never raises: any JSON in gives a record, records, a skip or problems;
the generated code's inline fast paths give exactly what the transforms give."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.engine import (
    Aggregation,
    Combine,
    Effect,
    Enrichment,
    ErrorCode,
    FieldRow,
    LookupTable,
    MappingSpec,
    Outcome,
    Problem,
    Rule,
    Split,
    Transform,
    compile_mapping,
)
from mappings.engine.fields import _product
from mappings.engine.problems import TransformError
from mappings.engine.transforms import build_transform

FIELDS = ["OrderDate", "Qty", "Price", "Code", "Flag", "Address", "Amount", "Status", "Lines"]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["01/02/2024", "1e999", "NaN", "yes", "A1", "SW1A 2AA", "-0", " 7 "])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=25,
)
records = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=9) | json_values

PLAN = compile_mapping(
    MappingSpec(
        rows=(
            FieldRow(1, ("OrderDate",), ("Date",), (Transform("date", {"from": "DD/MM/YYYY"}),)),
            FieldRow(2, ("Qty",), ("Quantity",), (Transform("decimal", {"places": 2}),)),
            FieldRow(3, ("Qty",), ("Whole",), (Transform("integer", {"rounding": "down"}),)),
            FieldRow(4, ("Flag",), ("Active",), (Transform("boolean"),)),
            FieldRow(5, ("Address",), ("A1", "A2", "Postcode"), (Transform("address"),)),
            FieldRow(6, ("Code", "Status"), ("Name",), template="{Code} {Status}"),
            FieldRow(7, ("Code",), ("Parts",), (Transform("split", {"separator": "-"}),)),
            FieldRow(8, ("Code",), ("Account",), (Transform("lookup", {"table": "t"}),)),
            FieldRow(9, ("Lines[].Code",), ("Items[].Code",), (Transform("upper"),)),
            FieldRow(
                10,
                ("Lines[].Qty", "Lines[].Price"),
                ("Items[].Amount",),
                combine=Combine.MULTIPLY,
            ),
            FieldRow(11, ("Lines[].Price", "Qty"), ("Items[].Sum",), combine=Combine.SUM),
            FieldRow(12, ("Status",), ("Status",), (Transform("concat", {"before": "S-"}),)),
        ),
        lookups=(LookupTable("t", {"A1": "200"}, case_sensitive=False),),
        rules=(
            Rule(1, "Amount > 100 and Status == 'x'", Effect.SKIP),
            Rule(2, "decimal(Amount) < 0", Effect.FAIL, message="negative"),
            Rule(3, "len(Lines) > 2", Effect.SET, target="Many", value=True),
            Rule(4, "Code == 'A1' or Status == 'x'", Effect.SKIP, target="Lines[]"),
        ),
        enrichments=(Enrichment(1, "Items[].Account", "Lines[].Code", "t"),),
        defaults={"Items[].Tax": "OUTPUT2", "Currency": "GBP"},
        aggregations=(Aggregation(1, "Items", ("Account",), ("Amount", "Sum")),),
        split=Split(1, "Items", key="Code", max_lines=2),
    )
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(records)
def test_apply_never_raises(record):
    result = PLAN.apply(record)
    assert result.outcome in Outcome
    if result.outcome is Outcome.MAPPED:
        assert result.records and all(isinstance(r, dict) for r in result.records)
        assert not result.problems
    elif result.outcome is Outcome.FAILED:
        assert result.problems and all(isinstance(p, Problem) for p in result.problems)
        assert all(p.message for p in result.problems)
        assert ErrorCode.INTERNAL_ERROR not in {p.code for p in result.problems}
    else:
        assert result.skip_reason
    assert PLAN.apply(record, trace=True).outcome is result.outcome


@settings(max_examples=200, deadline=None)
@given(records)
def test_apply_is_deterministic(record):
    assert PLAN.apply(record) == PLAN.apply(record)


numbers = (
    st.none()
    | st.integers()
    | st.floats()
    | st.decimals()
    | st.decimals().map(str)
    | st.text(max_size=6)
    | st.sampled_from(["1e50", "1e39", "1e26", "NaN", "sNaN", "-Infinity", " 2.5 ", "", "1_0"])
    | st.text(" \t\n\u00a0", max_size=3)  # blanks, as SYSPRO sends empty columns
)
QTY, PRICE = Transform("decimal", {"places": 3}), Transform("decimal")
AMOUNT = Transform("decimal", {"places": 2, "rounding": "down"})
INLINED = compile_mapping(
    MappingSpec(
        rows=(
            FieldRow(1, ("Lines[].Qty",), ("Items[].Qty",), (QTY,)),
            FieldRow(2, ("Lines[].Price",), ("Items[].Price",), (PRICE,)),
            FieldRow(
                3,
                ("Lines[].Qty", "Lines[].Price"),
                ("Items[].Amount",),
                (AMOUNT,),
                combine=Combine.MULTIPLY,
            ),
            FieldRow(4, ("Lines[].Price",), ("Items[].Code",), (Transform("trim"),)),
        ),
    )
)


def _by_function(transform: Transform, value: Any, field: str, expected: dict) -> None:
    """Put what the transform's own function gives for ``value`` in ``expected``."""
    try:
        converted = build_transform(transform, {}).fn(value)
    except TransformError as exc:
        expected["problems"][field] = exc.message
    else:
        if converted is not None:  # a blank gives no value: the target is left out
            expected["values"][field] = converted


@settings(max_examples=500, deadline=None)
@given(numbers, numbers)
def test_inlined_transforms_give_what_their_functions_give(qty, price):
    expected: dict[str, dict[str, Any]] = {"values": {}, "problems": {}}
    if qty is not None:
        _by_function(QTY, qty, "Qty", expected)
    if price is not None:
        _by_function(PRICE, price, "Price", expected)
        _by_function(Transform("trim"), price, "Code", expected)
    try:
        product = _product([qty, price])
    except TransformError as exc:
        expected["problems"]["Amount"] = exc.message
    else:
        if product is not None:
            _by_function(AMOUNT, product, "Amount", expected)
    result = INLINED.apply({"Lines": [{"Qty": qty, "Price": price}]})
    problems = {
        p.field.removeprefix("Items[0]."): p.message.split(" (Items[0].")[0]
        for p in result.problems
    }
    assert problems == expected["problems"]
    if not problems:  # repr: Decimal("1.5") == Decimal("1.50"), but they are not the same
        (line,) = result.record["Items"]
        assert {k: repr(v) for k, v in line.items()} == {
            k: repr(v) for k, v in expected["values"].items()
        }
