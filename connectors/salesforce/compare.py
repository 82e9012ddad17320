"""Does Salesforce already hold this? Writing only what would change something."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def _same_value(sent: Any, held: Any) -> bool:
    if isinstance(sent, Mapping):
        held = held if isinstance(held, Mapping) else {}
        return all(_same_value(v, held.get(k)) for k, v in sent.items() if k != "attributes")
    if sent in (None, "") or held in (None, ""):
        return sent in (None, "") and held in (None, "")
    if isinstance(sent, bool) or isinstance(held, bool):
        return sent == held
    try:
        return float(sent) == float(held)
    except (TypeError, ValueError):
        pass
    text, stored = str(sent), str(held)
    if text == stored:
        return True
    try:  # a date or datetime written in another spelling
        return datetime.fromisoformat(text.replace("Z", "+00:00")) == datetime.fromisoformat(
            stored.replace("Z", "+00:00").replace("+0000", "+00:00")
        )
    except ValueError:
        return False


def same_values(sent: Mapping[str, Any], held: Mapping[str, Any]) -> bool:
    """Whether writing ``sent`` would change nothing on the record Salesforce holds."""
    return all(
        _same_value(value, held.get(name))
        for name, value in sent.items()
        if name not in ("attributes", "Id")
    )
