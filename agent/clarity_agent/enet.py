"""Performing a checked call against SYSPRO e.net, and the agent's own e.net session.

Facts about e.net this relies on (see the server's connectors/syspro/ and the shared
systems/syspro.md):

* every call is a GET under ``/SYSPROWCFService/Rest`` with its arguments in the query
  string; ``Logon`` takes ``Operator``, ``OperatorPassword``, ``CompanyId``,
  ``CompanyPassword`` and answers the session's UserId (a GUID, maybe space-padded) or
  text starting ``ERROR`` [O] wildland/syspro-ruby lib/syspro/logon.rb;
* a body may come bare, JSON-quoted or wrapped in ``<string>`` [O];
* failures are HTTP 200 with text starting ``ERROR``; a session that is gone (idle
  expiry, a service restart, another logon of the same operator) says the UserId is not
  logged on / the session has expired / is invalid [A: the wording the server's
  connectors/syspro/errors.py SESSION_GONE reads]. The business object did not run then,
  so logging on again and re-sending once is safe, a write too;
* each session holds a licence seat and a second logon of one operator may end the
  first [O] (systems/syspro.md "Sessions"), so the agent keeps ONE session per e.net
  server, shared by its threads, and logs on again under a lock.

In the "agent" mode the operator's password and the session id stay here: the server
never sends ``Logon``/``Logoff`` (refused if it does) and never sees a UserId; the
session id is masked out of any answer relayed back.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from clarity_agent.calls import ROOT, SESSION_OPERATIONS, Call
from clarity_agent.config import Config
from clarity_agent.logs import Redactor

logger = logging.getLogger("clarity_agent.enet")

SESSION_PARAM = "UserId"
SESSION_GONE = re.compile(r"not logged on|session has expired|invalid (userid|session)", re.I)
SESSION_ID = re.compile(r"\{?[0-9A-Fa-f-]{32,40}\}?")
ANSWER_HEADERS = ("Content-Type", "Retry-After")  # all the server keeps
SESSION_MASK = "<agent session>"


class Unreachable(Exception):
    """Could not connect: the call was NOT sent (safe to send again, even a write)."""


class TimedOut(Exception):
    """Sent, but no whole answer in time: for a write the outcome is unknown."""


class TooLarge(Exception):
    """SYSPRO's answer is over the bound: the call DID run."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return unwrap(self.body.decode("utf-8", "replace"))


def error(kind: str, message: str) -> dict[str, Any]:
    return {"error": kind, "message": message[:500]}


def unwrap(body: str) -> str:
    """An e.net reply's payload, whether bare, JSON-quoted or in ``<string>``."""
    text = body.strip().lstrip("\ufeff")
    if text.startswith('"'):
        try:
            text = str(json.loads(text)).strip()
        except ValueError:
            return text
    if re.match(r"<string[\s>]", text):
        try:
            text = (ET.fromstring(text).text or "").strip()  # noqa: S314  (no entities expanded)
        except ET.ParseError:
            return text
    return text


class Enet:
    """The configured e.net servers, their sessions, and one HTTP session per thread."""

    def __init__(self, config: Config, redactor: Redactor) -> None:
        self.config = config
        self.redactor = redactor
        self._lock = threading.Lock()
        self._sessions: dict[str, str] = {}  # base URL -> UserId
        self._local = threading.local()

    def perform(self, call: Call, deadline: float) -> dict[str, Any]:
        """The answer to send back for ``call``, sent before ``deadline`` (monotonic)."""
        if call.session == "agent":
            if self.config.credentials is None:
                return error("refused", "this agent holds no SYSPRO credentials")
            if call.operation in SESSION_OPERATIONS:
                return error(
                    "refused", "this agent logs on to SYSPRO itself; it relays no Logon or Logoff"
                )
        for base in self.config.base_urls:
            try:
                return self._perform_at(base, call, deadline)
            except Unreachable:
                logger.warning("call %s: cannot connect to %s", call.id[:8], base)
                continue
            except TimedOut:
                return error("timeout", "SYSPRO did not answer within the call's deadline")
            except TooLarge:
                return error(
                    "too_large", f"SYSPRO's answer is over {self.config.max_answer_bytes} bytes"
                )
        return error("unreachable", "the agent could not connect to SYSPRO e.net")

    def _perform_at(self, base: str, call: Call, deadline: float) -> dict[str, Any]:
        if call.session != "agent":
            return _answer(self._send(base, call, call.query, deadline), "")
        user_id = self._user_id(base, deadline)
        if not user_id.startswith("ERROR"):
            reply = self._send(base, call, self._with_session(call, user_id), deadline)
            if not _session_gone(reply):
                return _answer(reply, user_id)
            logger.info("call %s: SYSPRO ended the agent's session; logging on again", call.id[:8])
            fresh = self._user_id(base, deadline, stale=user_id)
            if fresh.startswith("ERROR"):
                user_id = fresh
            else:
                reply = self._send(base, call, self._with_session(call, fresh), deadline)
                return _answer(reply, fresh)
        # SYSPRO refused the agent's logon: its own words go back, so the server's connector
        # classifies them as it would a direct logon's (e.g. a wrong password is "auth").
        return {
            "status": 200,
            "headers": {"Content-Type": "text/plain"},
            "body_b64": _b64(user_id.encode()),
        }

    def _with_session(self, call: Call, user_id: str) -> dict[str, str]:
        query = {k: v for k, v in call.query.items() if k.lower() != SESSION_PARAM.lower()}
        return {SESSION_PARAM: user_id, **query}

    def _user_id(self, base: str, deadline: float, stale: str | None = None) -> str:
        """The session at ``base``, logging on when there is none or it is ``stale``.

        Under one lock: threads that find the session gone together log on once (a
        second logon of the operator could end the first session). An ``ERROR…`` text
        is SYSPRO's refusal of the logon.
        """
        with self._lock:
            current = self._sessions.get(base)
            if current is not None and current != stale:
                return current
            credentials = self.config.credentials
            assert credentials is not None
            logon = Call(
                id="logon",
                method="GET",
                operation="Logon",
                query={
                    "Operator": credentials.operator,
                    "OperatorPassword": credentials.operator_password,
                    "CompanyId": credentials.company_id,
                    "CompanyPassword": credentials.company_password,
                },
                headers={},
                body=b"",
                deadline_s=0,
                session="agent",
            )
            text = self._send(base, logon, logon.query, deadline).text()
            if text.upper().startswith("ERROR") or not SESSION_ID.fullmatch(text):
                logger.error(
                    "SYSPRO refused the agent's logon as operator %s: %s",
                    credentials.operator,
                    text[:200] if text.upper().startswith("ERROR") else "not an e.net answer",
                )
                self._sessions.pop(base, None)
                return text if text.upper().startswith("ERROR") else "ERROR: not an e.net answer"
            self.redactor.add(text)
            self._sessions[base] = text
            logger.info("logged on to SYSPRO at %s as operator %s", base, credentials.operator)
            return text

    def logoff(self) -> None:
        """Give the licence seats back when the agent stops (best effort, 5 s)."""
        with self._lock:
            sessions, self._sessions = self._sessions, {}
        for base, user_id in sessions.items():
            logoff = Call("logoff", "GET", "Logoff", {}, {}, b"", 5, "agent")
            try:
                self._send(base, logoff, {SESSION_PARAM: user_id}, time.monotonic() + 5)
            except (Unreachable, TimedOut, TooLarge):
                logger.warning("could not log off from SYSPRO at %s", base)

    def _http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # A local call goes straight to e.net: never through a proxy from the
            # environment, never with credentials from a .netrc.
            session.trust_env = False
            self._local.session = session
        return session

    def _send(self, base: str, call: Call, query: dict[str, str], deadline: float) -> Reply:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimedOut
        try:
            response = self._http().request(
                call.method,
                base + ROOT + call.operation,
                params=query,
                data=call.body or None,
                headers=call.headers,
                timeout=(min(self.config.connect_timeout_s, left), left),
                allow_redirects=False,  # a redirect is answered as it is, never followed
                stream=True,
            )
        except requests.ConnectionError as exc:
            raise _connection_error(exc) from None
        except requests.Timeout:
            raise TimedOut from None
        with response:
            body = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > self.config.max_answer_bytes:
                        raise TooLarge
                    if time.monotonic() > deadline:
                        raise TimedOut
            except (requests.ConnectionError, requests.Timeout):
                raise TimedOut from None
            headers = {
                name: response.headers[name] for name in ANSWER_HEADERS if name in response.headers
            }
            return Reply(response.status_code, headers, bytes(body))


def _connection_error(exc: requests.ConnectionError) -> Exception:
    """Unreachable when the connection never opened (nothing sent), else TimedOut."""
    if isinstance(exc, requests.ConnectTimeout):
        return Unreachable()
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError | ConnectTimeoutError):
        return Unreachable()
    return TimedOut()


def _session_gone(reply: Reply) -> bool:
    text = reply.text()
    gone = text.upper().startswith("ERROR") and SESSION_GONE.search(text) is not None
    return reply.status == 200 and gone


def _answer(reply: Reply, user_id: str) -> dict[str, Any]:
    body = reply.body
    if user_id:
        body = body.replace(user_id.strip().encode(), SESSION_MASK.encode())
    return {"status": reply.status, "headers": reply.headers, "body_b64": _b64(body)}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
