"""How a source record is identified in the ledger: its id, its version, its idempotency key."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from clarity.sync.storable import escaped
from mappings.engine.paths import Getter, getter, parse_path


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except ValueError:  # a number too long to write out: hashed as the ledger stores it
        return json.dumps(escaped(value), sort_keys=True, separators=(",", ":"), default=str)


@lru_cache(maxsize=256)
def _reader(path: str) -> Getter:
    return getter(parse_path(path, "field"))


def field_text(record: dict[str, Any], path: str) -> str:
    """The value at ``path`` (``Customer``, ``Contact.Name``) as text, "" when absent."""
    value = _reader(path)(record) if path else None
    return "" if value is None else str(value)


def source_version(record: dict[str, Any], field: str) -> str:
    """The record's own version field when it has one, with a short hash of its content;
    else a longer hash of its content.

    Why the hash beside the field: version stamps have a resolution (KashFlow's
    and SYSPRO's are whole seconds), and two edits within it — an invoice raised,
    then paid in the same second — would carry one version, so the second would
    be skipped as already delivered. The stamp stays first, for people to read.
    """
    digest = hashlib.sha256(_canonical(record).encode()).hexdigest()
    if field:
        value = field_text(record, field)
        if value:
            return f"{value[:80]}~{digest[:12]}"
    return "h" + digest[:24]


def idempotency_key(flow_id: int, source_id: str, version: str) -> str:
    key = f"{flow_id}:{source_id}:{version}"
    if len(key) <= 255:
        return key
    return f"{flow_id}:h{hashlib.sha256(key.encode()).hexdigest()}"


def part_key(key: str, part: int) -> str:
    """The idempotency key of one record a split produced: the source row's key and its number."""
    suffixed = f"{key}#{part}"
    if len(suffixed) <= 255:
        return suffixed
    return f"{key.split(':', 1)[0]}:h{hashlib.sha256(suffixed.encode()).hexdigest()}"
