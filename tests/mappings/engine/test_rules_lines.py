"""Rules that skip lines: a skip rule whose target names a source line array (``Lines[]``)
reads each line's fields and leaves the lines it matches out of the target."""

import pytest

from mappings.engine import (
    CompileError,
    Effect,
    ErrorCode,
    FieldRow,
    MappingSpec,
    Outcome,
    Rule,
    Transform,
    compile_mapping,
)

ROWS = (
    FieldRow(1, ("Lines[].Code",), ("Items[].Code",)),
    FieldRow(2, ("Lines[].Amount",), ("Items[].Amount",), (Transform("decimal"),)),
    FieldRow(3, ("Order",), ("Items[].Order",)),
)
ORDER = {
    "Order": "SO-1",
    "Lines": [
        {"Type": "1", "Code": "A", "Amount": "1.50"},
        {"Type": "6", "Code": "", "Amount": "", "Comment": "Leave at the back door"},
        {"Type": "4", "Code": "", "Amount": "9"},
    ],
}


def plan(*rules: Rule):
    return compile_mapping(MappingSpec(rows=ROWS, rules=rules))


@pytest.mark.parametrize("trace", [False, True])
def test_lines_a_skip_rule_matches_are_left_out(trace):
    result = plan(Rule(1, "Type == '6'", Effect.SKIP, target="Lines[]")).apply(ORDER, trace=trace)
    assert result.outcome is Outcome.MAPPED, result.problems
    assert [line["Code"] for line in result.record["Items"]] == ["A", ""]
    assert all(line["Order"] == "SO-1" for line in result.record["Items"])
    if trace:  # provenance counts the lines that were written
        assert result.provenance["Items[1].Amount"] == "row 2"
        assert "Items[2].Amount" not in result.provenance


def test_several_line_rules_and_a_record_rule_work_together():
    rules = (
        Rule(1, "Type == '6'", Effect.SKIP, target="Lines[]"),
        Rule(2, "Type in ('4', '5') and decimal(Amount) == 0", Effect.SKIP, target="Lines[]"),
        Rule(3, "Order == 'SO-9'", Effect.SKIP, message="not this one"),
    )
    order = {**ORDER, "Lines": [*ORDER["Lines"], {"Type": "5", "Code": "", "Amount": "0"}]}
    result = plan(*rules).apply(order)
    assert [line["Code"] for line in result.record["Items"]] == ["A", ""]
    assert plan(*rules).apply({**order, "Order": "SO-9"}).skip_reason == "not this one"


def test_a_skip_rule_with_any_other_target_still_skips_the_record():
    """Only a target ending in [] makes a line rule; a target left over from a set rule
    that became a skip is ignored, as it always was."""
    result = plan(Rule(1, "Order == 'SO-1'", Effect.SKIP, target="Status")).apply(ORDER)
    assert result.outcome is Outcome.SKIPPED


def test_every_line_skipped_leaves_an_empty_line_array():
    result = plan(Rule(1, "True", Effect.SKIP, target="Lines[]")).apply(ORDER)
    assert result.outcome is Outcome.MAPPED
    assert result.record["Items"] == []


def test_a_line_rule_that_cannot_be_checked_fails_the_record_naming_the_rule():
    result = plan(Rule(1, "decimal(Amount) > 5", Effect.SKIP, target="Lines[]")).apply(ORDER)
    assert result.outcome is Outcome.FAILED
    assert [p.code for p in result.problems] == [ErrorCode.RULE_ERROR]
    assert 'rule "1"' in result.problems[0].message


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("Other[]", "no row maps lines of Other[]"),
        ("Lines[0][]", "is not a source line array"),
        ("Lines[].Parts[]", "is not a source line array"),
    ],
)
def test_a_line_rule_must_name_a_line_array_rows_read(target, words):
    with pytest.raises(CompileError) as caught:
        plan(Rule(7, "Type == '6'", Effect.SKIP, target=target))
    (problem,) = caught.value.problems
    assert problem.code is ErrorCode.INVALID_RULE and problem.rule_id == 7
    assert problem.field == "target"
    assert words in problem.message


@pytest.mark.parametrize("trace", [False, True])
def test_a_template_of_one_source_is_rendered_in_the_header_and_on_lines(trace):
    """A template is text around its sources whatever their number (it was ignored for one)."""
    rows = (
        FieldRow(1, ("Order",), ("Reference",), template="Order {Order}"),
        FieldRow(2, ("Order",), ("Items[].Text",), template="Goods on {Order}"),
        FieldRow(3, ("Lines[].Code",), ("Items[].Code",), template="[{Lines[].Code}]"),
        FieldRow(4, ("Missing",), ("Note",), template=" {Missing} "),
    )
    result = compile_mapping(MappingSpec(rows=rows)).apply(ORDER, trace=trace)
    assert result.outcome is Outcome.MAPPED, result.problems
    assert result.record["Reference"] == "Order SO-1"
    assert result.record["Items"][0] == {"Text": "Goods on SO-1", "Code": "[A]"}
    assert result.record["Items"][1]["Code"] == "[]"
    assert "Note" not in result.record  # a template that comes out blank gives no value
