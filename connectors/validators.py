"""Checks on a connection's fields, run when it is saved."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

# Production credentials may only be sent to the vendor's own hosts. SYSPRO is
# installed on the customer's premises, so any host is allowed there.
VENDOR_HOSTS: dict[str, tuple[str, ...]] = {
    "xero": ("api.xero.com",),
    "salesforce": (".salesforce.com", ".force.com"),
    "kashflow": ("api.kashflow.com",),
}

_url = URLValidator(schemes=["http", "https"])


def host_is_vendor(system: str, host: str) -> bool:
    allowed = VENDOR_HOSTS.get(system)
    if allowed is None:
        return True
    return any(host == a or (a.startswith(".") and host.endswith(a)) for a in allowed)


def validate_base_url(*, system: str, environment: str, base_url: str) -> None:
    """Raise a ValidationError keyed on ``base_url`` when the address is unusable or unsafe."""
    try:
        _url(base_url)
    except ValidationError:
        raise ValidationError(
            {"base_url": f"'{base_url}' is not a valid http(s) address."}
        ) from None
    parts = urlsplit(base_url)
    if environment != "production":
        return
    host = (parts.hostname or "").lower()
    if not host_is_vendor(system, host):
        allowed = " or ".join(f"*{a}" if a.startswith(".") else a for a in VENDOR_HOSTS[system])
        raise ValidationError(
            {
                "base_url": (
                    f"A production {system.title()} connection must use {allowed}; "
                    f"'{host}' is not that vendor's host, so credentials will not be sent to it."
                )
            }
        )
    if parts.scheme != "https":
        raise ValidationError({"base_url": "A production connection must use https."})


LINE_BREAKS = frozenset("\t\n\r")


def unprintable_character(text: str, *, multiline: bool = False) -> str | None:
    """The first control character (NUL included) or lone surrogate in ``text``, if any.

    Such characters are never part of a name, an address or a setting; PostgreSQL
    refuses NUL and lone surrogates cannot even be encoded, so they would only
    ever surface as a server error.
    """
    for char in text:
        if multiline and char in LINE_BREAKS:
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            return char
    return None


def storable_text(text: str) -> str:
    """``text`` from a remote system as PostgreSQL can store it: NUL and lone surrogates
    written out as ``\\u0000``, ``\\ud800`` (a text column refuses them)."""
    if "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return "".join(
        f"\\u{ord(c):04x}" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text
    )


def _describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def validate_single_line(value: str) -> None:
    """Refuse control characters (NUL, tab, line breaks …) in a one-line field."""
    char = unprintable_character(str(value))
    if char is not None:
        raise ValidationError(
            f"This contains an invisible control character ({_describe(char)}); "
            "type it again without it.",
            code="control_character",
        )


def validate_json_text(value: Any) -> None:
    """Refuse control characters in any key or text of a JSON setting (line breaks allowed)."""
    for text in _texts(value):
        char = unprintable_character(text, multiline=True)
        if char is not None:
            raise ValidationError(
                f"A setting contains an invisible control character ({_describe(char)}), "
                "for example a \\u0000 escape; remove it.",
                code="control_character",
            )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_texts(k), *_texts(v))]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    return []
