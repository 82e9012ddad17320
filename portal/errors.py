"""Refusals a portal client can act on, each with the HTTP status it answers with."""

from __future__ import annotations

import math
from typing import Any

from connectors.errors import ConnectorError, ErrorKind, RetryLaterError

# How long a portal should wait before asking again after SYSPRO failed transiently.
RETRY_AFTER_SECONDS = 5


class PortalError(Exception):
    """A refusal with its HTTP status, a stable ``code`` and a message in plain words."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.message, **self.details}


def from_connector(exc: ConnectorError) -> PortalError:
    """SYSPRO's failure as the portal answers it.

    Transient failures are 503 with Retry-After so the portal asks again;
    bad data in the request is 400; a connection SYSPRO refuses (operator,
    licence, company) is 502 — not the portal's fault, a consultant's to fix.
    """
    if isinstance(exc, RetryLaterError):  # a rate limit, or SYSPRO's breaker open
        return PortalError(503, exc.code, exc.message, retry_after=math.ceil(exc.retry_after))
    if exc.kind is ErrorKind.TRANSIENT:
        return PortalError(503, exc.code, exc.message, retry_after=RETRY_AFTER_SECONDS)
    if exc.kind is ErrorKind.DATA:
        return PortalError(400, exc.code, exc.message)
    return PortalError(
        502, exc.code, f"The portal's SYSPRO connection is not working: {exc.message}"
    )
