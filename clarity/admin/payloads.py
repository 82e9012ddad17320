"""Payloads on admin pages: a bounded preview, and the whole of it as a download.

A ledger row may hold a payload of megabytes (a sales order with thousands of
lines, a target's verbose answer). Rendered whole, one record page weighed
9 MB and took seconds to draw; so a page shows at most a preview of each
payload and links to a download of the exact JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse

# Characters of pretty-printed JSON a page shows per payload (HTML escaping may double them).
PREVIEW_CHARS = 8_000
# Cells of the audit trail are small boxes: a before/after shows less.
AUDIT_PREVIEW_CHARS = 600
# Larger corrections are downloaded, edited and uploaded instead of typed into the page.
EDITABLE_CHARS = 20_000


def pretty_start(value: Any, limit: int) -> tuple[str, bool]:
    """Pretty JSON up to about ``limit`` characters, and whether there was more.

    Lazily: Python pretty-prints (indent) in pure Python, seconds for 5 MB, so
    only the part shown is ever encoded.
    """
    encoder = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False, default=str)
    parts: list[str] = []
    size = 0
    for chunk in encoder.iterencode(value):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            return "".join(parts), True
    return "".join(parts), False


@dataclass(frozen=True)
class Preview:
    text: str
    shortened: bool
    size: str

    @property
    def note(self) -> str:
        return f"Shortened: the whole payload is {self.size}." if self.shortened else ""


def payload_preview(value: Any, limit: int = PREVIEW_CHARS) -> Preview:
    """The start of the pretty JSON, cut at a line end, and whether anything was left out."""
    if value in (None, "", {}, []):
        return Preview(text="—", shortened=False, size="0 bytes")
    text, more = pretty_start(value, limit)
    if not more:
        return Preview(text=text, shortened=False, size=human_size(len(text.encode())))
    cut = text.rfind("\n", 0, limit)
    shown = text[: cut if cut > limit // 2 else limit]
    return Preview(text=f"{shown}\n…", shortened=True, size=payload_size(value))


def payload_size(value: Any) -> str:
    """The size of the JSON (compact, as stored), measured with the fast C encoder."""
    return human_size(len(json.dumps(value, ensure_ascii=False, default=str).encode()))


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def payload_download(value: Any, filename: str) -> HttpResponse:
    """The payload exactly as stored, as a JSON file (the caller checks the permission)."""
    body = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    response = HttpResponse(body.encode(), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
