"""Capping huge payloads before a ledger row is saved, so the ledger keeps to a size.

Part of storing an outcome (clarity/sync/outcomes.py); retention's pruning of
old rows is a service of its own (clarity/services/retention.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from clarity.models import SyncRecord
from clarity.models.ledger import PRUNABLE

DEFAULT_PAYLOAD_CAP_BYTES = 64 * 1024
PREVIEW_BYTES = 1024


def payload_cap_bytes() -> int:
    return int(getattr(settings, "CLARITY_PAYLOAD_CAP_BYTES", DEFAULT_PAYLOAD_CAP_BYTES))


def payload_capped(value: Any, limit_bytes: int | None = None) -> Any:
    """The value itself when its JSON fits in ``limit_bytes``; otherwise a small note.

    The note says it was capped and how big the original was, with the start
    of its JSON as a preview, e.g.::

        {"_truncated": True,
         "note": "Payload too large to keep: original was 812 KB; capped at 64 KB.",
         "preview": "{\\"Invoices\\": [{\\"InvoiceID\\": ..."}
    """
    limit = payload_cap_bytes() if limit_bytes is None else limit_bytes
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False, default=str)
    size = len(text.encode())
    if size <= limit:
        return value
    preview_bytes = max(0, min(PREVIEW_BYTES, limit // 2))
    preview = text.encode()[:preview_bytes].decode(errors="ignore")
    return {
        "_truncated": True,
        "note": (
            f"Payload too large to keep: original was {_kb(size)} KB; capped at {_kb(limit)} KB."
        ),
        "preview": preview + "…",
    }


def is_capped(value: Any) -> bool:
    return isinstance(value, dict) and value.get("_truncated") is True


def record_payloads_cap(row: SyncRecord, limit_bytes: int | None = None) -> list[str]:
    """Cap a ledger row's payloads before saving it; returns the fields it changed.

    The target's answer is only kept for reading, so it is always capped. The
    source and transformed records are what a retry sends again, so they are
    capped only once the row needs no retry (succeeded or skipped).
    """
    fields = ["target_response"]
    if row.status in PRUNABLE:
        fields += ["source_payload", "transformed_payload"]
    changed = []
    for field in fields:
        value = getattr(row, field)
        capped = payload_capped(value, limit_bytes)
        if capped is not value:
            setattr(row, field, capped)
            changed.append(field)
    return changed


def _kb(size: int) -> str:
    kb = size / 1024
    return f"{kb:,.0f}" if kb >= 10 else f"{kb:,.1f}".rstrip("0").rstrip(".")
