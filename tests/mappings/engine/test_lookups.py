"""Lookup tables."""

from mappings.engine import (
    ErrorCode,
    FieldRow,
    LookupTable,
    MappingSpec,
    OnMissing,
    Outcome,
    Transform,
    compile_mapping,
)

TABLE = "SYSPRO payment method → Xero bank account"


def lookup_plan(**table_options):
    return compile_mapping(
        MappingSpec(
            rows=(
                FieldRow(
                    7,
                    ("PaymentMethod",),
                    ("BankAccount",),
                    (Transform("lookup", {"table": TABLE}),),
                ),
            ),
            lookups=(LookupTable(TABLE, {"EFT": "090", "CHQ": "091", "10": "X"}, **table_options),),
        )
    )


def test_lookup_translates():
    assert lookup_plan().apply({"PaymentMethod": "EFT"}).record == {"BankAccount": "090"}


def test_lookup_matches_whole_numbers_by_text():
    assert lookup_plan().apply({"PaymentMethod": 10}).record == {"BankAccount": "X"}


def test_missing_key_fails_with_a_message_naming_value_and_table():
    result = lookup_plan().apply({"PaymentMethod": "DD"})
    assert result.outcome is Outcome.FAILED
    (problem,) = result.problems
    assert problem.code is ErrorCode.LOOKUP_MISSING
    assert problem.kind == "data"
    assert problem.lookup == TABLE
    assert problem.row_id == 7
    assert problem.value == "DD"
    assert f"No entry for 'DD' in the lookup table \"{TABLE}\"" in problem.message
    assert "BankAccount from PaymentMethod" in problem.message


def test_missing_key_can_pass_through_or_use_a_default():
    passing = lookup_plan(on_missing=OnMissing.PASS)
    assert passing.apply({"PaymentMethod": "DD"}).record == {"BankAccount": "DD"}
    defaulting = lookup_plan(on_missing=OnMissing.DEFAULT, default="099")
    assert defaulting.apply({"PaymentMethod": "DD"}).record == {"BankAccount": "099"}


def test_case_sensitivity_is_per_table():
    assert lookup_plan().apply({"PaymentMethod": "eft"}).outcome is Outcome.FAILED
    folded = lookup_plan(case_sensitive=False)
    assert folded.apply({"PaymentMethod": "eft"}).record == {"BankAccount": "090"}


def test_empty_value_is_a_missing_key():
    (problem,) = lookup_plan().apply({}).problems
    assert "No value to look up" in problem.message
