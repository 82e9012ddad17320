"""The one place the mapping engine's problem kinds become the ledger's error kinds."""

from __future__ import annotations

from clarity.models import ErrorKind
from clarity.sync.outcomes import PROBLEM_KINDS
from mappings.engine import ErrorCode, ProblemKind


def test_every_engine_problem_kind_has_a_ledger_kind() -> None:
    assert set(PROBLEM_KINDS) == set(ProblemKind)
    assert all(isinstance(kind, ErrorKind) for kind in PROBLEM_KINDS.values())


def test_a_lookup_missing_is_data_and_a_bad_spec_is_config() -> None:
    assert PROBLEM_KINDS[ErrorCode.LOOKUP_MISSING.kind] is ErrorKind.DATA
    assert PROBLEM_KINDS[ErrorCode.INVALID_SPEC.kind] is ErrorKind.CONFIG
