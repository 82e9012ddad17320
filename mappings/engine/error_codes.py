"""The codes a mapping problem can carry.

Codes are stable identifiers: the ledger stores them, the admin filters and
retries "every record failing with code X" by them, so never rename a value.
Each code belongs to one kind, so callers never have to guess whether a person
must fix the data ("data") or the mapping itself ("config").

``ProblemKind`` is the engine's own and not ``connectors.errors.ErrorKind``: the
engine imports nothing outside itself, so it can be run and tested on a dict. The
sync core maps it to the ledger's kind in one place (``clarity.sync.outcomes.PROBLEM_KINDS``).
"""

from enum import StrEnum


class ProblemKind(StrEnum):
    DATA = "data"
    CONFIG = "config"


class ErrorCode(StrEnum):
    # Raised while compiling a mapping: the consultant must fix the mapping.
    INVALID_SPEC = "invalid_spec"
    INVALID_PATH = "invalid_path"
    UNKNOWN_TRANSFORM = "unknown_transform"
    INVALID_TRANSFORM_ARGS = "invalid_transform_args"
    UNKNOWN_LOOKUP = "unknown_lookup"
    DUPLICATE_LOOKUP = "duplicate_lookup"
    INVALID_EXPRESSION = "invalid_expression"
    INVALID_RULE = "invalid_rule"
    INVALID_LINE_MAPPING = "invalid_line_mapping"
    INVALID_AGGREGATION = "invalid_aggregation"
    INVALID_SPLIT = "invalid_split"

    # Raised while applying a mapping to one record: the data must be fixed
    # (or the mapping widened to accept it).
    NOT_AN_OBJECT = "not_an_object"
    LOOKUP_MISSING = "lookup_missing"
    INVALID_DATE = "invalid_date"
    INVALID_NUMBER = "invalid_number"
    INVALID_BOOLEAN = "invalid_boolean"
    BLANK_VALUE = "blank_value"
    INVALID_TEXT = "invalid_text"
    INVALID_ADDRESS = "invalid_address"
    INVALID_LINES = "invalid_lines"
    RULE_FAILED = "rule_failed"
    RULE_ERROR = "rule_error"
    RULE_TOO_COSTLY = "rule_too_costly"
    AGGREGATION_FAILED = "aggregation_failed"

    # A defect in the engine itself; reported, never raised.
    INTERNAL_ERROR = "internal_error"

    @property
    def kind(self) -> ProblemKind:
        return ProblemKind.CONFIG if self in _CONFIG_CODES else ProblemKind.DATA


_CONFIG_CODES = frozenset(
    {
        ErrorCode.INVALID_SPEC,
        ErrorCode.INVALID_PATH,
        ErrorCode.UNKNOWN_TRANSFORM,
        ErrorCode.INVALID_TRANSFORM_ARGS,
        ErrorCode.UNKNOWN_LOOKUP,
        ErrorCode.DUPLICATE_LOOKUP,
        ErrorCode.INVALID_EXPRESSION,
        ErrorCode.INVALID_RULE,
        ErrorCode.INVALID_LINE_MAPPING,
        ErrorCode.INVALID_AGGREGATION,
        ErrorCode.INVALID_SPLIT,
        ErrorCode.RULE_TOO_COSTLY,
        ErrorCode.INTERNAL_ERROR,
    }
)
