"""Xero webhooks: the signature check on what Xero posts."""

from __future__ import annotations

import base64
import hashlib
import hmac


def verify_webhook(body: bytes, signature: str | None, webhook_key: str) -> bool:
    """True when ``x-xero-signature`` is base64(HMAC-SHA256(body, key)); answer 401 if not."""
    if not signature:
        return False
    expected = base64.b64encode(hmac.new(webhook_key.encode(), body, hashlib.sha256).digest())
    # Bytes, not str: compare_digest refuses non-ASCII text, which anyone can send.
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
