"""A rule can cost only so much: refused when saved where the text shows it, stopped per
operation where the data does, the record failing alone with ``rule_too_costly``."""

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.engine import (
    CompileError,
    Effect,
    ErrorCode,
    FieldRow,
    MappingSpec,
    Outcome,
    Rule,
    compile_mapping,
    condition_fields,
    validate_expression,
)
from mappings.engine.limits import MAX_SIZE

# Fields a dangerous rule can grow from: long text, a large number, numeric text.
RECORD = {"Text": "x" * 5_000, "Qty": 123_456_789, "Digits": "9" * 4_000, "Amount": "12.50"}


def plan_for(condition: str):
    row = FieldRow(1, ("Amount",), ("Total",))
    return compile_mapping(MappingSpec(rows=(row,), rules=(Rule(1, condition, Effect.SKIP),)))


big = st.sampled_from([10**9, 10**6, 99_999, 10_001, 4_300, -(10**9)]) | st.integers(0, 10**12)
field = st.sampled_from(["Qty", "Text", "Digits", "decimal(Amount)", "int(Digits)", "'ab'"])
SHAPES = [
    "round({f}, {n})",
    "round({f}, {n} * {m})",
    "round(decimal(Amount), 0 - {n})",
    "'%0{n}d' % {f}",
    "'%.{n}f' % decimal(Amount)",
    "'%*d' % ({n}, 1)",
    "('%0' + str({n}) + 'd') % Qty",
    "'x' * {n}",
    "{f} * {n}",
    "[{f}] * {n}",
    "[[{f}] * {m}] * {n}",
    "({f}, {f}) * {n}",
    "{f} * {n} * {m} * {n} * {m}",
    "int(Digits) * int(Digits) * int(Digits)",
    "str(int(Digits) * int(Digits))",
    "len(Text + Text + Text) > {n}",
    "len(str({f}) * {n}) > 0",
    "int(decimal('1e39') * decimal('1e39') * decimal('1e39') * {f})",
    "'%s' % ([Text] * {m},)",
    "{f} in [Text] * {m}",
]


@st.composite
def dangerous(draw) -> str:
    shape = draw(st.sampled_from(SHAPES))
    return shape.format(f=draw(field), n=draw(big), m=draw(big))


@st.composite
def deep(draw) -> str:
    depth = draw(st.integers(1, 6_000))
    shape = draw(
        st.sampled_from(["not " * depth + "Qty", "-" * depth + "Qty", "+".join(["Qty"] * depth)])
    )
    return shape if len(shape) < 3_000 else "(" * depth + "Qty" + ")" * depth


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dangerous() | deep())
def test_every_rule_is_refused_on_save_or_bounded_per_record(condition):
    try:
        plan = plan_for(condition)
    except CompileError as exc:
        (problem,) = exc.problems
        assert problem.code is ErrorCode.INVALID_EXPRESSION
        assert problem.message.startswith("rule 1: ")
        return
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = plan.apply(RECORD)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 5_000_000  # bytes: a few times the record, never gigabytes
    assert result.outcome in (Outcome.MAPPED, Outcome.SKIPPED, Outcome.FAILED)
    for problem in result.problems:
        assert problem.code in (ErrorCode.RULE_TOO_COSTLY, ErrorCode.RULE_ERROR), problem
        assert problem.message.startswith('rule "1"')


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("round(Qty, 1000000000) > 0", "round() to 1,000,000,000 digits (at most 40)"),
        ("round(Qty, -1000000000) > 0", "round() to -1,000,000,000 digits"),
        ("'%0999999999d' % Qty == ''", "a format width of 999,999,999 (at most 100)"),
        ("'%.999999999f' % Qty == ''", "a format width of 999,999,999"),
        ("'%*d' % (5, Qty) == ''", "takes its width from the data"),
        ("'x' * 1000000000 == Text", "repeats a value 1,000,000,000 times"),
        ("[1, 2] * 10000 == []", "repeats a value 10,000 times"),
        ("not " * 3000 + "Qty", "too long"),
        ("+".join(["Qty"] * 60), "nested too deeply (at most 50 levels)"),
        ("(" * 300 + "Qty" + ")" * 300, "too many nested parentheses"),
    ],
)
def test_what_the_text_shows_is_refused_when_the_rule_is_saved(condition, words):
    with pytest.raises(CompileError) as caught:
        plan_for(condition)
    (problem,) = caught.value.problems
    assert problem.code is ErrorCode.INVALID_EXPRESSION and problem.rule_id == 1
    assert words in problem.message
    assert any(words in m for m in validate_expression(condition))
    assert isinstance(condition_fields(condition), list)  # never a RecursionError


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("round(Qty, Qty) > 0", "round() to 123,456,789 digits"),
        ("('%0' + str(Qty) + 'd') % 1 == ''", "a format width of 123,456,789"),
        ("Text * Qty == ''", "repeats a value 123,456,789 times"),
        ("[Text] * 3 == []", "repeats a value 3 times"),
        ("len(Text + Text + Text) > 0", f"joins values into more than {MAX_SIZE:,} characters"),
        ("int(Digits) * int(Digits) * int(Digits) * int(Digits) > 0", "more than 4,200 digits"),
    ],
)
def test_what_the_data_makes_too_costly_fails_that_record_alone(condition, words):
    plan = plan_for(condition)
    small = plan.apply({"Text": "x", "Qty": 2, "Digits": "12", "Amount": "1"})
    assert small.outcome is not Outcome.FAILED, small.problems
    result = plan.apply(RECORD)
    assert result.outcome is Outcome.FAILED
    (problem,) = result.problems
    assert problem.code is ErrorCode.RULE_TOO_COSTLY and problem.kind == "config"
    assert problem.rule_id == 1
    assert words in problem.message
    assert "Change the rule to work on smaller values" in problem.message
    assert plan.apply({"Text": "y", "Qty": 3, "Digits": "1", "Amount": "2"}).outcome is (
        small.outcome
    )


def test_ordinary_rules_are_untouched():
    plan = plan_for("round(decimal(Amount), 1) == decimal('12.5') and '%05.1f' % 1.5 == '001.5'")
    assert plan.apply(RECORD).outcome is Outcome.SKIPPED
    assert plan_for("Text * 2 == 'abab'").apply({"Text": "ab"}).outcome is Outcome.SKIPPED
