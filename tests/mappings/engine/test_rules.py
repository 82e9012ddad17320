"""Conditional rules."""

import pytest

from mappings.engine import (
    CompileError,
    Effect,
    ErrorCode,
    FieldRow,
    MappingSpec,
    Outcome,
    Rule,
    compile_mapping,
    validate_expression,
)


def rule_plan(*rules):
    return compile_mapping(
        MappingSpec(rows=(FieldRow("r", ("OrderStatus",), ("Status",)),), rules=rules, defaults={})
    )


def test_set_rule_overrides_the_mapped_value():
    plan = rule_plan(
        Rule(1, "OrderStatus == 'Shipped'", Effect.SET, target="Status", value="AUTHORISED")
    )
    assert plan.apply({"OrderStatus": "Shipped"}).record == {"Status": "AUTHORISED"}
    assert plan.apply({"OrderStatus": "Open"}).record == {"Status": "Open"}


def test_skip_rule_skips_with_its_reason():
    plan = rule_plan(
        Rule(
            2,
            "not (StageName == 'Closed Won' and Amount > 0)",
            Effect.SKIP,
            message="only won deals with an amount are invoiced",
        )
    )
    skipped = plan.apply({"StageName": "Prospecting", "Amount": 10})
    assert skipped.outcome is Outcome.SKIPPED
    assert skipped.skip_reason == "only won deals with an amount are invoiced"
    assert plan.apply({"StageName": "Closed Won", "Amount": 10}).outcome is Outcome.MAPPED


def test_fail_rule_fails_with_its_message():
    plan = rule_plan(Rule(3, "empty(Customer)", Effect.FAIL, message="the order has no customer"))
    result = plan.apply({"OrderStatus": "Open"})
    assert result.outcome is Outcome.FAILED
    assert result.problems[0].code is ErrorCode.RULE_FAILED
    assert result.problems[0].rule_id == 3
    assert result.problems[0].message == "the order has no customer"


def test_rule_reads_nested_fields_and_missing_fields_are_none():
    plan = rule_plan(
        Rule(4, "Contact.Country in ('GB', 'UK')", Effect.SET, target="Region", value="UK")
    )
    assert plan.apply({"Contact": {"Country": "GB"}}).record == {"Region": "UK"}
    assert plan.apply({"Contact": "not an object"}).record == {}
    assert plan.apply({}).record == {}


def test_rule_errors_at_run_time_are_problems_not_exceptions():
    plan = rule_plan(Rule(5, "Amount > 0", Effect.SKIP))
    result = plan.apply({"Amount": None})
    assert result.outcome is Outcome.FAILED
    (problem,) = result.problems
    assert problem.code is ErrorCode.RULE_ERROR
    assert problem.rule_id == 5
    assert "Amount > 0" in problem.message


def test_rules_cannot_touch_the_record():
    messages = validate_expression("Lines.clear()")
    assert messages and "unknown function" in messages[0]
    assert validate_expression("__import__('os')")
    assert validate_expression("Contact.__class__")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Amount > 0 and", "the condition is incomplete at column 15"),
        ("Amount >> > 0", "syntax error near '> 0': invalid syntax at column 11"),
        ("Amout > 0", "unknown field 'Amout' (did you mean 'Amount'?) at column 1"),
        ("Amount > 0 and foo(1)", "unknown function 'foo'"),
        ("[x for x in Lines]", "ListComp is not allowed in a rule at column 1"),
        ("", "the condition is empty"),
    ],
)
def test_validate_expression_points_at_the_mistake(text, expected):
    messages = validate_expression(text, known_fields=["Amount", "Lines"])
    assert messages
    assert messages[0].startswith(expected)


def test_validate_expression_accepts_a_good_condition():
    assert validate_expression("StageName == 'Closed Won' and decimal(Amount) > 0") == []


def test_bad_rule_is_a_compile_error_with_position():
    with pytest.raises(CompileError) as caught:
        rule_plan(Rule("r9", "Amount >", Effect.SKIP))
    (problem,) = caught.value.problems
    assert problem.code is ErrorCode.INVALID_EXPRESSION
    assert problem.kind == "config"
    assert problem.rule_id == "r9"
    assert problem.field == "condition"
    assert problem.position == 9
    assert problem.message.startswith("rule r9: ")
