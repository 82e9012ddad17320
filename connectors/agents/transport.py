"""A requests transport that sends a connector's HTTP calls through the agent relay.

It sits below ``connectors.http.HttpClient``, in place of the network, so the client's
rules keep their meaning for a connection reached through an agent:

* no agent online → ``AgentOfflineError`` (retry later, nothing sent, nothing failed);
* a call no agent took before its deadline → ``AgentOfflineError`` too: it was
  withdrawn, never sent, and the run waits;
* a call the agent could not deliver to SYSPRO (``unreachable``) → ``ConnectTimeout``:
  never sent, so the client may send it again, a write too;
* a call the agent took but did not answer in time → ``ReadTimeout``: for a write the
  outcome is unknown and the sync core settles it by lookup, never by a blind resend;
* an answer → a ``Response`` like the one SYSPRO would have given directly.

Only the path and query travel: the agent joins them to the base URL in its own
configuration, so the server never holds (or reaches) the customer's SYSPRO address.
Plain Python: no Django.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from connectors.agents.relay import ONLINE_WITHIN_S, Relay
from connectors.errors import ConnectorError, ErrorKind, RetryLaterError

AGENT_OFFLINE = "agent_offline"
AGENT_REFUSED = "agent_refused"
ANSWER_TOO_LARGE = "answer_too_large"
# Session modes (a connection's ``credentials_held_by`` setting): the agent logs on with
# the operator's password from its own configuration, or relays the server's session.
SESSION_AGENT = "agent"
SESSION_SERVER = "server"
SESSION_PARAM = "UserId"


class AgentOfflineError(RetryLaterError):
    """No agent of the connection is polling: runs wait, nothing is sent or failed."""

    def __init__(
        self,
        last_seen: float | None,
        retry_after: float = ONLINE_WITHIN_S,
        *,
        untaken_for: float | None = None,
    ) -> None:
        if untaken_for is not None:
            message = (
                f"No on-premises agent took the call within {untaken_for:.0f} s, so it was "
                "not sent to SYSPRO. Check the agent's host and service; the run waits and "
                "nothing failed."
            )
        elif last_seen is None:
            message = (
                "No on-premises agent of this connection has connected yet, so SYSPRO cannot "
                "be reached. Install and start the agent; the run waits and nothing failed."
            )
        else:
            since = datetime.fromtimestamp(last_seen).astimezone().strftime("%H:%M")
            message = (
                f"The on-premises agent is offline since {since}, so SYSPRO cannot be reached. "
                "Check the agent's host and service; the run waits and nothing failed."
            )
        super().__init__(ErrorKind.TRANSIENT, AGENT_OFFLINE, message)
        self.retry_after = retry_after
        self.last_seen = last_seen


class AgentRelayAdapter(BaseAdapter):
    """Mount on a ``requests.Session`` (see ``relay_session``) for every URL it calls."""

    def __init__(self, relay: Relay, connection_id: str, *, session_mode: str) -> None:
        super().__init__()
        self.relay = relay
        self.connection_id = connection_id
        self.session_mode = session_mode

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if self.session_mode == SESSION_AGENT:
            query.pop(SESSION_PARAM, None)  # the agent adds its own session
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, bytes):  # e.net calls are whole query strings and forms
            raise TypeError("the agent relay carries a whole request body, not a stream")
        deadline_s = _deadline(timeout)
        request_id, last_seen = self.relay.submit_if_online(
            self.connection_id,
            {
                "method": request.method,
                "path": parts.path,
                "query": query,
                "headers": {k: v for k, v in request.headers.items() if k.lower() == "accept"},
                "body_b64": base64.b64encode(body).decode(),
                "session": self.session_mode,
            },
            deadline_s=deadline_s,
        )
        if request_id is None:
            raise AgentOfflineError(last_seen)
        outcome = self.relay.wait(self.connection_id, request_id, deadline_s=deadline_s)
        if outcome.state == "withdrawn":  # never handed out: as good as offline, not sent
            raise AgentOfflineError(
                self.relay.last_seen(self.connection_id), untaken_for=deadline_s
            )
        if outcome.answer is None:
            raise requests.ReadTimeout("the agent did not answer in time", request=request)
        return _response(request, outcome.answer)

    def close(self) -> None:
        """Nothing to close: the relay's Redis connection belongs to its pool."""


def _deadline(timeout: Any) -> float:
    """The client's (connect, read) timeout as one deadline for the whole relayed call."""
    if isinstance(timeout, tuple):
        return float(sum(t for t in timeout if t is not None)) or 60.0
    return float(timeout) if timeout else 60.0


def _response(request: requests.PreparedRequest, answer: dict[str, Any]) -> requests.Response:
    error = answer.get("error")
    if error == "unreachable":
        raise requests.ConnectTimeout("the agent could not reach SYSPRO", request=request)
    if error == "timeout":
        raise requests.ReadTimeout("SYSPRO did not answer the agent in time", request=request)
    if error == "refused":
        raise ConnectorError(
            ErrorKind.CONFIG,
            AGENT_REFUSED,
            "The on-premises agent refused the call: "
            f"{answer.get('message') or 'not in its allowed addresses'}. Check the agent's "
            "configuration (the SYSPRO e.net base URL and, in the recommended mode, its "
            "operator credentials).",
        )
    if error == "too_large":
        raise ConnectorError(
            ErrorKind.CONFIG,
            ANSWER_TOO_LARGE,
            "SYSPRO's answer was larger than the agent may relay (10 MB). Lower the "
            "connection's page size.",
            outcome_unknown=True,  # the call ran: a write's result was not seen
        )
    response = requests.Response()
    response.status_code = int(answer["status"])
    response.headers = CaseInsensitiveDict(answer.get("headers") or {})
    response._content = base64.b64decode(answer.get("body_b64") or "")
    response.encoding = get_encoding_from_headers(response.headers)
    response.url = request.url or ""
    response.request = request
    response.reason = ""
    return response


def relay_session(relay: Relay, connection_id: str, *, session_mode: str) -> requests.Session:
    """A session whose every call goes through the connection's agents."""
    session = requests.Session()
    adapter = AgentRelayAdapter(relay, connection_id, session_mode=session_mode)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def agent_session_mode(settings: Mapping[str, Any]) -> str | None:
    """How a connection's settings say it is reached: None (directly), or through an agent
    with the agent holding SYSPRO's credentials (the default, recommended) or the server."""
    if not settings.get("through_agent"):
        return None
    held_by = settings.get("credentials_held_by", SESSION_AGENT)
    return SESSION_SERVER if held_by == SESSION_SERVER else SESSION_AGENT


def agent_settings_problem(system: str, settings: dict[str, Any]) -> str | None:
    """What is wrong with a connection's agent settings, in words for its settings field."""
    if "credentials_held_by" in settings and settings["credentials_held_by"] not in (
        SESSION_AGENT,
        SESSION_SERVER,
    ):
        return 'credentials_held_by is "agent" (recommended) or "server".'
    if settings.get("through_agent") and system != "syspro":
        return "Only SYSPRO connections can be reached through an on-premises agent."
    if "through_agent" in settings and not isinstance(settings["through_agent"], bool):
        return "through_agent is true or false."
    return None
