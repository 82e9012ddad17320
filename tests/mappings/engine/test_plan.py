"""Row kinds, line items, enrichment, defaults, aggregation, splitting, compile errors."""

from decimal import Decimal

import pytest

from mappings.engine import (
    Aggregation,
    Combine,
    CompileError,
    Effect,
    Enrichment,
    ErrorCode,
    FieldRow,
    LookupTable,
    MappingSpec,
    Outcome,
    Rule,
    Split,
    Transform,
    compile_mapping,
    to_json_safe,
)

ORDER = {
    "SalesOrder": "000123",
    "Customer": {"Code": "C1", "Name": " Acme "},
    "Region": "north",
    "Lines": [
        {"StockCode": "A1", "Qty": "2", "Price": "10.50", "Branch": "01"},
        {"StockCode": "B7", "Qty": "1", "Price": "3", "Branch": "02"},
        {"StockCode": "A1", "Qty": "1", "Price": "0.25", "Branch": "01"},
    ],
}
ACCOUNTS = LookupTable("stock → account", {"A1": "200", "B7": "260"})


def plan(*rows, **spec):
    return compile_mapping(MappingSpec(rows=rows, **spec))


def test_direct_and_nested_paths():
    result = plan(
        FieldRow(1, ("SalesOrder",), ("InvoiceNumber",)),
        FieldRow(2, ("Customer.Name",), ("Contact.Name",), (Transform("trim"),)),
        FieldRow(3, ("Customer.Code",), ("Contact.Number",)),
        FieldRow(4, ("Lines[1].StockCode",), ("SecondItem",)),
    ).apply(ORDER)
    assert result.record == {
        "InvoiceNumber": "000123",
        "Contact": {"Name": "Acme", "Number": "C1"},
        "SecondItem": "B7",
    }


def test_many_to_one_with_separator_template_and_first():
    person = {"FirstName": "Ada", "LastName": "Lovelace", "Nick": ""}
    result = plan(
        FieldRow(1, ("FirstName", "LastName"), ("ContactName",), separator=" "),
        FieldRow(2, ("LastName", "FirstName"), ("Sort",), template="{LastName}, {FirstName}"),
        FieldRow(3, ("Nick", "FirstName"), ("Known",), combine=Combine.FIRST),
        FieldRow(4, ("Missing", "LastName"), ("Partial",)),
    ).apply(person)
    assert result.record == {
        "ContactName": "Ada Lovelace",
        "Sort": "Lovelace, Ada",
        "Known": "Ada",
        "Partial": "Lovelace",
    }


def test_one_to_many_copies_a_scalar_to_each_target():
    result = plan(FieldRow(1, ("Customer.Code",), ("Code", "Contact.Code"))).apply(ORDER)
    assert result.record == {"Code": "C1", "Contact": {"Code": "C1"}}


def test_line_items_are_iterated_into_a_target_array():
    result = plan(
        FieldRow(1, ("Lines[].StockCode",), ("LineItems[].ItemCode",)),
        FieldRow(
            2,
            ("Lines[].Qty", "Lines[].Price"),
            ("LineItems[].LineAmount",),
            (Transform("decimal", {"places": 2}),),
            combine=Combine.MULTIPLY,
        ),
        FieldRow(3, ("Region",), ("LineItems[].Region",), (Transform("upper"),)),
    ).apply(ORDER)
    assert result.record == {
        "LineItems": [
            {"ItemCode": "A1", "LineAmount": Decimal("21.00"), "Region": "NORTH"},
            {"ItemCode": "B7", "LineAmount": Decimal("3.00"), "Region": "NORTH"},
            {"ItemCode": "A1", "LineAmount": Decimal("0.25"), "Region": "NORTH"},
        ]
    }


def test_line_problems_name_the_line():
    result = plan(
        FieldRow(9, ("Lines[].Qty",), ("LineItems[].Quantity",), (Transform("decimal"),))
    ).apply({"Lines": [{"Qty": "1"}, {"Qty": "lots"}, "junk"]})
    assert result.outcome is Outcome.FAILED
    first, second = result.problems
    assert first.field == "LineItems[1].Quantity"
    assert "line 2" in first.message and "'lots'" in first.message
    assert second.code is ErrorCode.INVALID_LINES


def test_enrichment_fills_from_a_lookup_keyed_on_a_source_field():
    result = plan(
        FieldRow(1, ("Lines[].StockCode",), ("LineItems[].ItemCode",)),
        FieldRow(2, ("Lines[].Account",), ("LineItems[].AccountCode",)),
        lookups=(ACCOUNTS,),
        enrichments=(Enrichment(1, "LineItems[].AccountCode", "Lines[].StockCode", ACCOUNTS.name),),
    ).apply({"Lines": [{"StockCode": "A1"}, {"StockCode": "B7", "Account": "999"}]})
    assert result.record["LineItems"] == [
        {"ItemCode": "A1", "AccountCode": "200"},
        {"ItemCode": "B7", "AccountCode": "999"},
    ]


def test_defaults_fill_header_and_line_fields_the_source_lacks():
    result = plan(
        FieldRow(1, ("Lines[].StockCode",), ("LineItems[].ItemCode",)),
        FieldRow(2, ("Prefix",), ("InvoicePrefix",)),
        defaults={"InvoicePrefix": "INV-", "LineItems[].AccountCode": "200"},
    ).apply({"Lines": [{"StockCode": "A1"}]})
    assert result.record == {
        "InvoicePrefix": "INV-",
        "LineItems": [{"ItemCode": "A1", "AccountCode": "200"}],
    }


def line_rows():
    return (
        FieldRow(1, ("Lines[].StockCode",), ("LineItems[].ItemCode",)),
        FieldRow(2, ("Lines[].Branch",), ("LineItems[].Branch",)),
        FieldRow(
            3,
            ("Lines[].Qty", "Lines[].Price"),
            ("LineItems[].LineAmount",),
            combine=Combine.MULTIPLY,
        ),
    )


def test_aggregation_sums_lines_by_key():
    result = plan(
        *line_rows(),
        lookups=(ACCOUNTS,),
        enrichments=(Enrichment(1, "LineItems[].AccountCode", "Lines[].StockCode", ACCOUNTS.name),),
        aggregations=(Aggregation(1, "LineItems", ("AccountCode",), ("LineAmount",)),),
    ).apply(ORDER)
    assert [(i["AccountCode"], i["LineAmount"]) for i in result.record["LineItems"]] == [
        ("200", Decimal("21.25")),
        ("260", Decimal("3")),
    ]


def test_split_makes_one_record_per_key_sharing_the_header():
    result = plan(
        FieldRow(0, ("SalesOrder",), ("Reference",)),
        *line_rows(),
        split=Split(1, "LineItems[]", key="Branch", header_field="BranchCode"),
    ).apply(ORDER)
    assert result.outcome is Outcome.MAPPED
    assert [(r["BranchCode"], len(r["LineItems"]), r["Reference"]) for r in result.records] == [
        ("01", 2, "000123"),
        ("02", 1, "000123"),
    ]


def test_split_by_max_lines():
    result = plan(*line_rows(), split=Split(1, "LineItems", max_lines=2)).apply(ORDER)
    assert [len(r["LineItems"]) for r in result.records] == [2, 1]


def test_provenance_is_opt_in_and_names_rows_rules_and_defaults():
    spec = dict(
        rules=(Rule("r1", "Region == 'north'", Effect.SET, target="Zone", value="N"),),
        defaults={"Status": "DRAFT", "LineItems[].AccountCode": "200"},
    )
    mapping = plan(FieldRow(1, ("SalesOrder",), ("Reference",)), *line_rows(), **spec)
    assert mapping.apply(ORDER).provenance is None
    traced = mapping.apply(ORDER, trace=True)
    assert traced.record == mapping.apply(ORDER).record
    assert traced.provenance["Reference"] == "row 1"
    assert traced.provenance["Zone"] == "rule r1"
    assert traced.provenance["Status"] == "default"
    assert traced.provenance["LineItems[2].ItemCode"] == "row 1"
    assert traced.provenance["LineItems[0].AccountCode"] == "default"


def test_to_json_safe():
    assert to_json_safe({"a": [Decimal("1.50"), (1, "x")]}) == {"a": ["1.50", [1, "x"]]}


def test_non_object_record_is_a_problem():
    result = plan(FieldRow(1, ("A",), ("B",))).apply(["not", "a", "dict"])
    assert result.problems[0].code is ErrorCode.NOT_AN_OBJECT


def compile_problems(**spec):
    with pytest.raises(CompileError) as caught:
        compile_mapping(MappingSpec(**spec))
    return caught.value.problems


def test_compile_errors_point_at_each_bad_row():
    problems = compile_problems(
        rows=(
            FieldRow(1, ("A",), ("B",), (Transform("uppercase"),)),
            FieldRow(2, ("A",), ("B",), (Transform("trim"), Transform("decimal", {"places": "2"}))),
            FieldRow(3, ("Lines[[x",), ("B",)),
            FieldRow(4, ("A",), ("B",), (Transform("lookup", {"table": "nope"}),)),
            FieldRow(5, ("Lines[].A",), ("B",)),
            FieldRow(6, ("A",), ("B",), (Transform("decimal", {"place": 2}),)),
        ),
        rules=(Rule("x", "Amount > ", Effect.SKIP),),
    )
    by_row = {p.row_id or p.rule_id: p for p in problems}
    assert by_row[1].code is ErrorCode.UNKNOWN_TRANSFORM
    assert by_row[1].field == "transforms[0].name"
    assert 'unknown transform "uppercase"' in by_row[1].message
    assert by_row[2].field == "transforms[1].args.places"
    assert by_row[3].code is ErrorCode.INVALID_PATH and by_row[3].field == "sources[0]"
    assert by_row[4].code is ErrorCode.UNKNOWN_LOOKUP and by_row[4].lookup == "nope"
    assert by_row[5].code is ErrorCode.INVALID_LINE_MAPPING
    assert "does not take place" in by_row[6].message
    assert by_row["x"].code is ErrorCode.INVALID_EXPRESSION
    assert all(p.kind == "config" for p in problems)


def test_compile_errors_for_lookups_lines_aggregation_and_split():
    problems = compile_problems(
        rows=(FieldRow(1, ("Region",), ("LineItems[].Region",)),),
        lookups=(LookupTable("t", {}), LookupTable("t", {})),
        enrichments=(Enrichment("e", "X", "Y", "missing"),),
        aggregations=(Aggregation("a", "Items", ("AccountCode",)),),
        split=Split("s", "LineItems"),
    )
    codes = {p.code for p in problems}
    assert {
        ErrorCode.DUPLICATE_LOOKUP,
        ErrorCode.UNKNOWN_LOOKUP,
        ErrorCode.INVALID_LINE_MAPPING,
        ErrorCode.INVALID_SPLIT,
    } <= codes
    assert any("no row reads a source line" in p.message for p in problems)
    assert any("'Items' is not a target line array" in p.message for p in problems)
