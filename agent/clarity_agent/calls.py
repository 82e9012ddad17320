"""What a relayed call may be: checked here before anything is sent.

The server names a call by an e.net path, a query and a body; the agent joins the path to
a base URL from its own configuration. Anything that is not one of e.net's REST
operations is refused and never fetched, so neither the server nor a stolen token can
use the agent to reach another path, host or port (no SSRF): no ``..``, no encoded
characters, no second slash, no scheme or host, no header that changes where the call
goes or who makes it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

ROOT = "/SYSPROWCFService/Rest/"
# e.net's REST operations [P] help.syspro.com "Business Objects" (Utilities Logon, Logoff,
# GetLogonProfile; Query, Setup and Transaction classes and their methods), [O] the REST
# paths in wildland/syspro-ruby lib/syspro/api_operations/*.rb: nothing else is relayed.
OPERATIONS = frozenset(
    {
        "Logon",
        "Logoff",
        "GetLogonProfile",
        "Query/Query",
        "Query/Browse",
        "Query/Fetch",
        "Query/NextKey",
        "Query/PreviousKey",
        "Setup/Add",
        "Setup/Update",
        "Setup/Delete",
        "Transaction/Build",
        "Transaction/Post",
    }
)
SESSION_OPERATIONS = frozenset({"Logon", "Logoff"})  # the agent's own, in "agent" mode
# Headers a relayed call may carry to SYSPRO; the rest (Host, Authorization, Cookie,
# proxies' headers…) would change where the call goes or whom it speaks for.
FORWARDED_HEADERS = ("Accept", "Content-Type")
METHODS = ("GET", "POST")
MAX_QUERY_KEYS = 20
SESSIONS = ("agent", "server")
_ID = re.compile(r"[0-9a-f]{32}")


class Refused(ValueError):
    """The call is not one the agent may make; the text says why (no secrets in it)."""


@dataclass(frozen=True)
class Call:
    """One checked call, ready to send."""

    id: str
    method: str
    operation: str  # e.g. "Query/Query", checked against OPERATIONS
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = field(repr=False)
    deadline_s: float
    session: str

    @property
    def path(self) -> str:
        return ROOT + self.operation


def request_id(request: Any) -> str | None:
    """The id to answer to, if the request has a well-formed one (else it cannot be answered)."""
    rid = request.get("id") if isinstance(request, dict) else None
    return rid if isinstance(rid, str) and _ID.fullmatch(rid) else None


def check(request: Any, *, max_bytes: int, max_deadline_s: float) -> Call:
    """The call ``request`` asks for, or ``Refused``: nothing unchecked reaches SYSPRO."""
    rid = request_id(request)
    if rid is None:
        raise Refused("the call has no valid id")
    method = request.get("method")
    if method not in METHODS:
        raise Refused(f"method {str(method)[:20]!r} is not one e.net uses")
    operation = _operation(request.get("path"))
    query = _strings(request.get("query", {}), "query", MAX_QUERY_KEYS)
    headers = _strings(request.get("headers", {}), "headers", 20)
    body = _body(request.get("body_b64", ""), max_bytes)
    size = len(body) + sum(len(k) + len(v) for k, v in query.items())
    if size > max_bytes:
        raise Refused(f"the call is {size} bytes, over the agent's bound of {max_bytes}")
    deadline = request.get("deadline_s")
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0:
        raise Refused("the call has no deadline")
    session = request.get("session", "server")
    if session not in SESSIONS:
        raise Refused(f"unknown session mode {str(session)[:20]!r}")
    kept = {
        name: value
        for name, value in headers.items()
        for wanted in FORWARDED_HEADERS
        if name.lower() == wanted.lower()
    }
    return Call(
        id=rid,
        method=method,
        operation=operation,
        query=query,
        headers=kept,
        body=body,
        deadline_s=min(float(deadline), max_deadline_s),
        session=session,
    )


def _operation(path: object) -> str:
    """The e.net operation a path names. Compared as text, never normalised: a path that
    would need decoding or resolving (``%2e``, ``..``, ``//``, ``\\``) is refused."""
    if not isinstance(path, str) or not path.startswith(ROOT):
        raise Refused("only SYSPRO e.net's REST paths (/SYSPROWCFService/Rest/…) are relayed")
    operation = path[len(ROOT) :]
    if operation not in OPERATIONS:
        raise Refused(f"{path[:120]!r} is not an e.net operation the agent relays")
    return operation


def _strings(value: object, name: str, most: int) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > most:
        raise Refused(f"{name} must be an object of at most {most} entries")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Refused(f"{name} must map strings to strings")
    if any(ch in k + v for k, v in value.items() for ch in "\r\n\0") and name == "headers":
        raise Refused("headers must not contain line breaks")
    return dict(value)


def _body(value: object, max_bytes: int) -> bytes:
    if not isinstance(value, str):
        raise Refused("body_b64 must be a string")
    if len(value) > (max_bytes + 2) // 3 * 4:  # judged before decoding anything
        raise Refused(f"the call's body is over the agent's bound of {max_bytes} bytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused("body_b64 is not base64") from exc
