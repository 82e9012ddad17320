"""Conditional rules: safe expressions parsed and checked once, evaluated per record.

Expressions are evaluated by ``simpleeval`` - never ``eval``. On top of what
simpleeval refuses, compilation rejects method calls (an expression must not be
able to call ``.clear()`` on the record it reads) and anything but a small set
of expression forms, and rewrites ``Contact.Name`` into a dict read, so the
evaluator only ever sees plain values. What a rule may cost is bounded when it
is saved and per operation as it runs (``mappings.engine.limits``).
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import simpleeval
from simpleeval import EvalWithCompoundTypes

from mappings.engine import limits
from mappings.engine.error_codes import ErrorCode
from mappings.engine.paths import Setter
from mappings.engine.problems import Problem, SpecError, show
from mappings.engine.spec import Effect, RowId
from mappings.engine.values import as_decimal, as_text, is_empty

_FIELD = "field"


def _field(obj: Any, key: str) -> Any:
    return obj.get(key) if type(obj) is dict else None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "decimal": as_decimal,
    "int": int,
    "float": float,
    "str": as_text,
    "len": len,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "lower": lambda value: as_text(value).lower(),
    "upper": lambda value: as_text(value).upper(),
    "trim": lambda value: as_text(value).strip(),
    "empty": is_empty,
    "startswith": lambda value, prefix: as_text(value).startswith(prefix),
    "endswith": lambda value, suffix: as_text(value).endswith(suffix),
    _FIELD: _field,
}

_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Call,
    ast.IfExp,
    ast.Tuple,
    ast.List,
)


def _error(message: str, column: int | None) -> SpecError:
    where = f" at column {column}" if column else ""
    return SpecError(ErrorCode.INVALID_EXPRESSION, f"{message}{where}", "condition", None, column)


class _Check(ast.NodeTransformer):
    """Collects every problem in one pass and rewrites ``a.b`` to ``field(a, "b")``."""

    def __init__(self, known_fields: set[str] | None, lead: int) -> None:
        self.known_fields = known_fields
        self.lead = lead
        self.errors: list[SpecError] = []

    def fail(self, message: str, node: ast.AST) -> None:
        self.errors.append(_error(message, getattr(node, "col_offset", 0) + 1 + self.lead))

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if not isinstance(node, _ALLOWED):
            self.fail(f"{type(node).__name__} is not allowed in a rule", node)
            return node
        return super().generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            known = ", ".join(n for n in FUNCTIONS if n != _FIELD)
            self.fail(f"unknown function {name!r} (known: {known})", node)
            return node
        if node.keywords:
            self.fail("functions take no keyword arguments", node)
        node.args = [self.visit(a) for a in node.args]
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if node.attr.startswith("_"):
            self.fail(f"field name {node.attr!r} cannot start with _", node)
        call = ast.Call(ast.Name(_FIELD, ast.Load()), [self.visit(node.value)], [])
        call.args.append(ast.Constant(node.attr))
        return ast.copy_location(call, node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        known = self.known_fields
        if known is not None and node.id not in known:
            close = difflib.get_close_matches(node.id, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(f"unknown field {node.id!r}{hint}", node)
        return node


def parse_expression(text: Any, known_fields: Iterable[str] | None = None) -> ast.expr:
    """Parse and check a condition, raising its first problem as a SpecError."""
    tree, errors = _parse(text, known_fields)
    if tree is None or errors:
        raise errors[0]
    return tree


def _flat(text: str) -> str:
    """One line, so a column alone locates a mistake."""
    return text.replace("\r", " ").replace("\n", " ")


def _parse(
    text: Any, known_fields: Iterable[str] | None
) -> tuple[ast.expr | None, list[SpecError]]:
    if not isinstance(text, str) or not text.strip():
        return None, [_error("the condition is empty", None)]
    flat = _flat(text)
    lead = len(flat) - len(flat.lstrip())
    try:
        tree = _tree(flat)
    except _TooDeep as exc:
        return None, [_error(str(exc), None)]
    except SyntaxError as exc:
        if not exc.offset:  # the parser ran out of text: the expression is unfinished
            column = len(flat.rstrip()) + 1
            return None, [_error("the condition is incomplete", column)]
        column = exc.offset + lead
        near = flat[column - 1 : column + 11].strip()
        return None, [_error(f"syntax error near {near!r}: {exc.msg}", column)]
    costly = limits.condition_problem(flat, tree)
    if costly is not None:
        message, node = costly
        at = getattr(node, "col_offset", -1) + 1 + lead if node is not None else None
        return None, [_error(f"this rule could cost too much for one record: {message}", at)]
    check = _Check(None if known_fields is None else set(known_fields), lead)
    tree = check.visit(tree)
    return tree.body, check.errors


class _TooDeep(Exception):
    """A condition too long or too deeply nested to parse safely."""


def _tree(flat: str) -> ast.Expression:
    """Parse a one-line condition; too long or too deep is refused before any recursion.

    Python's parser raises RecursionError (or MemoryError) on deep nesting such as
    ``not not not … x``, and walking such a tree recursively would too.
    """
    if len(flat) > limits.MAX_CONDITION_CHARS:
        problem = limits.condition_problem(flat, None)
        if problem is not None:  # always, for a text this long
            raise _TooDeep(f"this rule could cost too much for one record: {problem[0]}")
    try:
        tree = ast.parse(flat.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise _TooDeep(
            "this rule could cost too much for one record: the condition is nested too "
            f"deeply (at most {limits.MAX_DEPTH} levels)"
        ) from None
    return tree


def validate_expression(text: str, known_fields: Iterable[str] | None = None) -> list[str]:
    """Every problem in a condition as a message for a form; empty when it is valid.

    Pass ``known_fields`` (top-level source field names) to catch misspelt fields.
    """
    return [error.message for error in _parse(text, known_fields)[1]]


def condition_fields(text: Any) -> list[str]:
    """The source fields a condition reads, as paths (``Status``, ``Contact.Name``,
    ``Lines[0].Qty``), each once; none when it does not parse.

    For checking them against what the source system has; function names are not fields.
    """
    if not isinstance(text, str):
        return []
    try:
        tree = _tree(_flat(text))
    except (SyntaxError, _TooDeep):
        return []
    if limits.condition_problem(text, tree) is not None:
        return []  # refused when saved; too deep to walk here
    found: dict[str, None] = {}

    def visit(node: ast.AST) -> None:
        path = _field_path(node)
        if path is not None:
            found[path] = None
            return
        for child in ast.iter_child_nodes(node):
            if not (isinstance(node, ast.Call) and child is node.func):
                visit(child)

    visit(tree)
    return list(found)


def _field_path(node: ast.AST) -> str | None:
    """``Contact.Name`` or ``Lines[0].Qty`` as written, if ``node`` is a field read."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _field_path(node.value)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        base = _field_path(node.value)
        return (
            None
            if base is None or type(node.slice.value) is not int
            else f"{base}[{node.slice.value}]"
        )
    return None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: RowId
    text: str
    tree: ast.expr
    effect: Effect
    message: str
    set: Setter | None  # for Effect.SET
    target: str | None
    value: Any
    lines: str | None = None  # a line rule: skips the lines of this source array it matches


class _Fields:
    """The names an expression sees: the current record's fields, missing ones as None."""

    __slots__ = ("record",)

    def __init__(self) -> None:
        self.record: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        return self.record.get(name)


# What simpleeval itself compares without checks (see ``_quick``).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_QUICK_OPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne}


@dataclass(frozen=True, slots=True)
class _Quick:
    """``Field == constant`` (or ``!=``), which most rules are, checked without the evaluator."""

    name: str
    compare: Callable[[Any, Any], bool]
    constant: Any


def _quick(tree: ast.expr) -> _Quick | None:
    """The quick form of a condition, when it gives exactly what simpleeval gives.

    simpleeval compares a field and a literal with the same ``operator`` function;
    it also checks the values it reads (refusing modules and such), which a
    plain value cannot be, so only plain field values take the quick path, and
    literals too long for simpleeval never do.
    """
    if not (
        isinstance(tree, ast.Compare)
        and len(tree.ops) == 1
        and type(tree.ops[0]) in _QUICK_OPS
        and isinstance(tree.left, ast.Name)
        and isinstance(tree.comparators[0], ast.Constant)
    ):
        return None
    constant = tree.comparators[0].value
    if type(constant) not in _PLAIN or (
        type(constant) is str and len(constant) > simpleeval.MAX_STRING_LENGTH
    ):
        return None
    return _Quick(tree.left.id, _QUICK_OPS[type(tree.ops[0])], constant)


class RuleSet:
    """Evaluates rules in order. One evaluator per plan: a Plan is not shared across threads."""

    def __init__(self, rules: list[CompiledRule]) -> None:
        self.rules = [(rule, _quick(rule.tree)) for rule in rules]
        self._fields = _Fields()
        self._budget = limits.Budget()
        self._evaluator = EvalWithCompoundTypes(
            operators=self._budget.operators(simpleeval.DEFAULT_OPERATORS),
            functions=self._budget.functions(FUNCTIONS),
            names=self._fields,
        )

    def fired(self, record: dict[str, Any], problems: list[Problem]) -> list[CompiledRule]:
        """The rules whose condition holds; evaluation errors become problems."""
        self._fields.record = record
        evaluate, start = self._evaluator.eval, self._budget.start
        fired = []
        for rule, quick in self.rules:
            if quick is not None:
                value = record.get(quick.name)
                if type(value) in _PLAIN:
                    if quick.compare(value, quick.constant):
                        fired.append(rule)
                    continue
            start()
            try:
                if evaluate(rule.text, rule.tree):
                    fired.append(rule)
            except _COSTLY as exc:
                problems.append(
                    Problem(
                        ErrorCode.RULE_TOO_COSTLY,
                        f'rule "{rule.id}" ({show(rule.text)}) was stopped for this record: '
                        f"{_reason(exc)}. Change the rule to work on smaller values.",
                        rule_id=rule.id,
                    )
                )
            except Exception as exc:  # any failure is this record's problem
                problems.append(
                    Problem(
                        ErrorCode.RULE_ERROR,
                        f'rule "{rule.id}" ({rule.text}) could not be checked for this '
                        f"record: {exc}",
                        rule_id=rule.id,
                    )
                )
        return fired


# What stops an evaluation for its cost: our bounds, simpleeval's own (a string
# literal too long), or Python's (very deep values).
_COSTLY = (
    limits.TooCostly,
    simpleeval.IterableTooLong,
    simpleeval.NumberTooHigh,
    RecursionError,
    MemoryError,
)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, limits.TooCostly):
        return str(exc)
    if isinstance(exc, RecursionError | MemoryError):
        return "it needed more memory than a rule may use"
    return f"it makes a value of more than {simpleeval.MAX_STRING_LENGTH:,} characters"
