"""Values PostgreSQL cannot store, found before they reach the ledger, and shown escaped.

Why: a ledger page is inserted in one statement, so one value PostgreSQL
refuses — a NUL character (text and jsonb cannot hold U+0000), a lone
surrogate (not valid UTF-8), NaN or Infinity (not JSON numbers), a number too
long to write out — fails the whole page, and every later run fails at the
same page. Checked here first, such a record fails alone, its message naming
the field, and is stored in an escaped form a person can read.

Checking costs one ``json.dumps`` per value when all is well (the common case);
only a value that fails it is walked to name the fields.
"""

from __future__ import annotations

import json
import math
from typing import Any

# What the ledger's text columns hold at most (SyncRecord's max_length).
SOURCE_ID_MAX = 200


def problems(value: Any) -> list[str]:
    """Each unstorable value as "<field path>: <why>", or [] when the whole value stores."""
    if _stores(value):
        return []
    found: list[str] = []
    _walk(value, "", found)
    return found or ["(the record): it cannot be written as JSON"]


def text_problem(value: str, name: str, *, limit: int | None = None) -> str:
    """Why a text column cannot hold ``value`` ("" when it can)."""
    why = _text_problem(value)
    if why:
        return f"{name}: {why}"
    if limit is not None and len(value) > limit:
        return f"{name}: it is {len(value)} characters long; the ledger keeps at most {limit}"
    return ""


def escaped(value: Any) -> Any:
    """A copy that stores: NUL and lone surrogates written out as ``\\u0000``, ``\\ud800``;
    NaN, Infinity and numbers too long to write out as text; other values as their text."""
    if isinstance(value, str):
        return escaped_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if _int_stores(value) else f"(a number of {_digits(value)} digits)"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {escaped_text(str(k)): escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escaped(v) for v in value]
    return escaped_text(str(value))


def escaped_text(value: str) -> str:
    if not _text_problem(value):
        return value
    return "".join(
        f"\\u{ord(c):04x}" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value
    )


def _stores(value: Any) -> bool:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode()
    except (TypeError, ValueError):  # NaN, Infinity, a non-JSON type, a huge int, a surrogate
        return False
    return "\\u0000" not in text


def _walk(value: Any, path: str, found: list[str]) -> None:
    here = path or "(the record)"
    if isinstance(value, str):
        why = _text_problem(value)
        if why:
            found.append(f"{here}: {why}")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not _int_stores(value):
            found.append(f"{here}: a number of {_digits(value)} digits, too long to store")
    elif isinstance(value, float):
        if not math.isfinite(value):
            found.append(f"{here}: {value} is not a number the ledger can store")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            why = _text_problem(name)
            if why:
                found.append(f"{_join(path, escaped_text(name))} (the field's name): {why}")
            _walk(item, _join(path, escaped_text(name)), found)
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            _walk(item, f"{path}[{n}]", found)
    else:
        found.append(f"{here}: a {type(value).__name__}, which is not a JSON value")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _text_problem(value: str) -> str:
    if "\x00" in value:
        return "it holds a NUL character (\\u0000), which cannot be stored"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "it holds a broken character (a lone surrogate such as \\ud800), which is not text"
    return ""


def _int_stores(value: int) -> bool:
    try:
        str(value)
    except ValueError:  # beyond Python's int-to-text limit (4,300 digits)
        return False
    return True


def _digits(value: int) -> int:
    return max(1, math.ceil(abs(value).bit_length() * math.log10(2)))
