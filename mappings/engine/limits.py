"""Bounds on what one rule may cost: checked when it is saved, and per operation as it runs.

A condition can save cleanly and still ask for hours or gigabytes per record:
``round(Amount, 999999999)``, ``'%0999999999d' % Qty``, ``'x' * 10**9``, a
product of huge whole numbers. Python gives no safe way to interrupt an
evaluation from inside a thread (signal alarms only reach the main thread), so
no single operation may be large instead: every operator and function a rule
can use goes through a wrapper that checks the size of what it would build
*before* building it, and the time spent on this evaluation so far. A condition
is also short and shallow (refused on save otherwise), so it holds few
operations. Together that bounds an evaluation in time and memory; a record
that hits a bound fails alone with ``rule_too_costly``.
"""

from __future__ import annotations

import ast
import operator
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

# What one rule may write and build. Generous for any real condition.
MAX_CONDITION_CHARS = 2_000
MAX_DEPTH = 50  # nesting levels of the condition's syntax tree
MAX_SIZE = 10_000  # characters of text, or items (counted all the way down) of a list
MAX_INT_BITS = 14_000  # about 4,200 digits: what Python still prints as text
MAX_DECIMAL_EXPONENT = 1_000  # Decimal("1e1000"): far beyond any amount
MAX_ROUND_DIGITS = 40  # round(x, n): |n| at most this
MAX_FORMAT_WIDTH = 100  # '%10.2f' % x: widths and precisions at most this
MAX_OPERATIONS = 5_000  # operators and function calls per evaluation
MAX_SECONDS = 0.5  # per evaluation, wall clock: generous, so a busy machine trips nothing

# A %-format conversion: flags, width, precision, type (see printf-style formatting).
_FORMAT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)


class TooCostly(Exception):
    """An operation of a rule would be too large or too slow; the message says which."""


def condition_problem(text: str, tree: ast.AST | None) -> tuple[str, ast.AST | None] | None:
    """What makes a condition too costly to accept, and the node at fault; None when fine.

    Checked without recursion, so a deeply nested condition is refused rather than
    crashing the check itself. ``tree`` is None when it could not be parsed.
    """
    if len(text) > MAX_CONDITION_CHARS:
        return (
            f"the condition is too long ({len(text):,} characters; at most "
            f"{MAX_CONDITION_CHARS:,}): split it into several rules",
            None,
        )
    if tree is None:
        return f"the condition is nested too deeply (at most {MAX_DEPTH} levels)", None
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"the condition is nested too deeply (at most {MAX_DEPTH} levels)", node
        found = _literal_problem(node)
        if found:
            return found, node
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return None


def _literal_problem(node: ast.AST) -> str | None:
    """Sizes written into the condition that are already too large."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for seq, times in ((node.left, node.right), (node.right, node.left)):
            if (
                isinstance(times, ast.Constant)
                and type(times.value) is int
                and isinstance(seq, ast.Constant | ast.List | ast.Tuple)
                and type(getattr(seq, "value", None)) is not int
                and _literal_size(seq) * times.value > MAX_SIZE
            ):
                return f"it repeats a value {times.value:,} times (at most {MAX_SIZE:,} items)"
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mod)
        and isinstance(node.left, ast.Constant)
        and type(node.left.value) is str
    ):
        return format_problem(node.left.value)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "round"
        and len(node.args) == 2
    ):
        digits, sign = node.args[1], 1
        if isinstance(digits, ast.UnaryOp) and isinstance(digits.op, ast.USub):
            digits, sign = digits.operand, -1
        if isinstance(digits, ast.Constant) and type(digits.value) is int:
            return _round_problem(sign * digits.value)
    return None


def _literal_size(node: ast.AST) -> int:
    if isinstance(node, ast.Constant):
        return size(node.value)
    return sum(1 + _literal_size(e) for e in getattr(node, "elts", ()))


def _round_problem(digits: int) -> str | None:
    if abs(digits) > MAX_ROUND_DIGITS:
        return f"round() to {digits:,} digits (at most {MAX_ROUND_DIGITS})"
    return None


def format_problem(template: str) -> str | None:
    """Widths or precisions in a '%' format too large to allow, if any."""
    for match in _FORMAT.finditer(template):
        for part in match.group(1, 2):
            if part == "*":
                return "a '%*' format takes its width from the data (write the width)"
            if part and int(part) > MAX_FORMAT_WIDTH:
                return f"a format width of {int(part):,} (at most {MAX_FORMAT_WIDTH})"
    return None


def size(value: Any) -> int:
    """Characters of text, or items of a list counted all the way down (stops past the max)."""
    if type(value) is str:
        return len(value)
    if not isinstance(value, list | tuple | dict):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack and total <= MAX_SIZE:
        item = stack.pop()
        if type(item) is str:
            total += len(item)
        elif isinstance(item, list | tuple):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item)
            stack.extend(item.values())
        else:
            total += 1
    return total


class Budget:
    """The operators and functions one evaluator uses, bounded, and this evaluation's clock."""

    def __init__(self) -> None:
        self.deadline = 0.0
        self.operations = 0

    def start(self) -> None:
        """Call before each evaluation."""
        self.deadline = time.perf_counter() + MAX_SECONDS
        self.operations = 0

    def _tick(self) -> None:
        self.operations += 1
        if self.operations > MAX_OPERATIONS:
            raise TooCostly(f"it needs more than {MAX_OPERATIONS:,} steps for one record")
        if time.perf_counter() > self.deadline:
            raise TooCostly(f"it took longer than {MAX_SECONDS:g} s for one record")

    @staticmethod
    def _result(value: Any) -> Any:
        """A number too large to keep working with is refused.

        Text and lists are checked before the work, where they can grow: joining
        (``+``), repetition (``*``) and formats (``%``).
        """
        kind = type(value)
        if kind is int and value.bit_length() > MAX_INT_BITS:
            raise TooCostly(f"it makes a number of more than {MAX_INT_BITS * 3 // 10:,} digits")
        if kind is Decimal and value.is_finite() and abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
            raise TooCostly("it makes a number too large or too small to work with")
        return value

    def operators(self, base: dict[type, Callable[..., Any]]) -> dict[type, Callable[..., Any]]:
        """simpleeval's operators with every one bounded."""
        ops = dict(base)
        ops[ast.Add] = self._binary(self._add)
        ops[ast.Sub] = self._binary(operator.sub)
        ops[ast.Mult] = self._binary(self._mult)
        ops[ast.Div] = self._binary(operator.truediv)
        ops[ast.FloorDiv] = self._binary(operator.floordiv)
        ops[ast.Mod] = self._binary(self._mod)
        for node in (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn):
            ops[node] = self._compare(base[node])
        return ops

    def functions(self, base: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
        """The rule functions, bounded: ``int`` and ``round`` checked before they run."""
        wrapped = {name: self._call(fn) for name, fn in base.items()}
        wrapped["int"] = self._call(self._int)
        wrapped["round"] = self._call(self._round)
        return wrapped

    def _binary(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def bounded(a: Any, b: Any) -> Any:
            self._tick()
            return self._result(fn(a, b))

        return bounded

    def _compare(self, fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def bounded(a: Any, b: Any) -> Any:
            self._tick()
            return fn(a, b)

        return bounded

    def _call(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def bounded(*args: Any) -> Any:
            self._tick()
            return self._result(fn(*args))

        return bounded

    @staticmethod
    def _add(a: Any, b: Any) -> Any:
        sequences = isinstance(a, str | list | tuple) and isinstance(b, str | list | tuple)
        if sequences and size(a) + size(b) > MAX_SIZE:
            raise TooCostly(f"it joins values into more than {MAX_SIZE:,} characters or items")
        return a + b

    @staticmethod
    def _mult(a: Any, b: Any) -> Any:
        for seq, times in ((a, b), (b, a)):
            repeated = isinstance(seq, str | list | tuple) and type(times) is int
            if repeated and size(seq) * times > MAX_SIZE:
                raise TooCostly(f"it repeats a value {times:,} times (at most {MAX_SIZE:,} items)")
        if type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise TooCostly(f"it makes a number of more than {MAX_INT_BITS * 3 // 10:,} digits")
        return a * b

    @staticmethod
    def _mod(a: Any, b: Any) -> Any:
        if type(a) is str:
            problem = format_problem(a)
            if problem:
                raise TooCostly(problem)
            for arg in b if type(b) is tuple else (b,):
                if type(arg) is Decimal and arg.is_finite() and arg.adjusted() > MAX_FORMAT_WIDTH:
                    raise TooCostly("it formats a number too large to print")
        return a % b

    @staticmethod
    def _int(value: Any) -> int:
        if type(value) is Decimal and value.is_finite() and value.adjusted() > MAX_INT_BITS // 4:
            raise TooCostly("it makes a whole number too large to work with")
        return int(value)

    @staticmethod
    def _round(value: Any, digits: Any = None) -> Any:
        if digits is None:
            return round(value)
        if type(digits) is not int:
            raise TypeError("round() takes a whole number of digits")
        problem = _round_problem(digits)
        if problem:
            raise TooCostly(problem)
        return round(value, digits)
