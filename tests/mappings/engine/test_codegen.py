"""The generated per-plan function: spec text stays data, every op shape still maps."""

from decimal import Decimal

from mappings.engine import (
    Combine,
    Enrichment,
    ErrorCode,
    FieldRow,
    LookupTable,
    MappingSpec,
    OnMissing,
    Outcome,
    Transform,
    compile_mapping,
)

# Text that would break out of a string literal or a line if it were ever pasted into
# source; KEY is the same without the characters a field path cannot hold (. [ ]).
HOSTILE = 'x\'] = 1\n__import__("os").system("false") #{}\\'
KEY = "x' + 1)\nimport os #{}\\\""


def test_hostile_spec_text_is_only_ever_data():
    mapping = compile_mapping(
        MappingSpec(
            rows=(
                FieldRow(HOSTILE, (KEY,), (f"{KEY}.{KEY}",), (Transform("trim"),)),
                FieldRow(2, (f"Lines[].{KEY}",), (f"Items[].{KEY}",)),
                FieldRow(3, (), ("Const",), (Transform("constant", {"value": HOSTILE}),)),
                FieldRow(4, ("Code",), ("Looked",), (Transform("lookup", {"table": HOSTILE}),)),
            ),
            lookups=(LookupTable(HOSTILE, {HOSTILE: HOSTILE}),),
            defaults={KEY: HOSTILE},
        )
    )
    result = mapping.apply({KEY: f" {HOSTILE} ", "Lines": [{KEY: 1}], "Code": HOSTILE}, trace=True)
    assert result.outcome is Outcome.MAPPED
    assert result.record == {
        KEY: {KEY: HOSTILE.strip()},
        "Const": HOSTILE,
        "Looked": HOSTILE,
        "Items": [{KEY: 1}],
    }
    assert result.provenance[f"{KEY}.{KEY}"] == f"row {HOSTILE}"
    bad = mapping.apply({KEY: [1], "Code": "nope"})
    assert {p.code for p in bad.problems} == {ErrorCode.INVALID_TEXT, ErrorCode.LOOKUP_MISSING}
    assert any(p.row_id == HOSTILE for p in bad.problems)
    assert bad.problems[-1].lookup == HOSTILE


def test_line_ops_of_every_shape_match_traced_and_untraced():
    mapping = compile_mapping(
        MappingSpec(
            rows=(
                FieldRow(1, ("Region",), ("Items[].Tax",), (Transform("upper"),)),
                FieldRow(2, ("Lines[].Code",), ("Items[].Deep.Code",), (Transform("trim"),)),
                FieldRow(
                    3,
                    ("Lines[].Code",),
                    ("Items[].Part1", "Items[].Part2"),
                    (Transform("split", {"separator": "-"}),),
                ),
                FieldRow(
                    4,
                    ("Lines[].Qty", "Lines[].Price"),
                    ("Items[].Amount",),
                    (Transform("decimal", {"places": 2}),),
                    combine=Combine.MULTIPLY,
                ),
                FieldRow(
                    5, ("Lines[].Code",), ("Items[].Hint",), (Transform("default", {"value": "-"}),)
                ),
            ),
            lookups=(LookupTable("acc", {"A-1": "200"}, on_missing=OnMissing.DEFAULT),),
            enrichments=(Enrichment(1, "Items[].Deep.Account", "Lines[].Code", "acc"),),
            defaults={"Items[].Deep.Account": "999", "Items[].Tax": "NONE"},
        )
    )
    order = {
        "Region": "uk",
        "Lines": [{"Code": " A-1 ", "Qty": "2", "Price": "1.005"}, {"Code": "A-1"}, "junk"],
    }
    result = mapping.apply(order)
    traced = mapping.apply(order, trace=True)
    assert result.outcome is Outcome.FAILED  # line 3 is not an object
    assert [p.code for p in result.problems] == [ErrorCode.INVALID_LINES]
    assert traced.problems == result.problems
    ok = mapping.apply({**order, "Lines": order["Lines"][:2]})
    assert ok.record == {
        "Items": [
            {
                "Tax": "UK",
                "Deep": {"Code": "A-1", "Account": "999"},
                "Part1": "A",
                "Part2": "1",
                "Amount": Decimal("2.01"),
                "Hint": " A-1 ",
            },
            {
                "Tax": "UK",
                "Deep": {"Code": "A-1", "Account": "200"},
                "Part1": "A",
                "Part2": "1",
                "Hint": "A-1",
            },
        ]
    }
    provenance = mapping.apply({**order, "Lines": order["Lines"][:2]}, trace=True).provenance
    assert provenance["Items[1].Tax"] == "row 1"
    assert provenance["Items[0].Deep.Account"] == "default"  # " A-1 " has no entry
    assert provenance["Items[1].Deep.Account"] == "enrichment 1"
    assert provenance["Items[1].Part2"] == "row 3"


def test_a_large_mapping_compiles_into_one_function():
    rows = tuple(FieldRow(i, (f"F{i}",), (f"T{i}",), (Transform("trim"),)) for i in range(400))
    mapping = compile_mapping(MappingSpec(rows=rows))
    result = mapping.apply({f"F{i}": f" {i} " for i in range(400)})
    assert result.record == {f"T{i}": str(i) for i in range(400)}
