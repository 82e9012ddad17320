"""Logon, Logoff and GetLogonProfile: operators and the company password, e.net
sessions (a UserId GUID per logon), idle expiry and licence seats.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.sandbox.core import Request, Response, SandboxApp
from connectors.sandbox.syspro.query import add_element
from connectors.sandbox.syspro.schema import BoError


@dataclass
class Session:
    operator: str
    last_used: float


class SysproAuth(SandboxApp):
    """Logon, Logoff and GetLogonProfile: operators, company password, e.net sessions."""

    company_id: str
    company_password: str
    operators: dict[str, dict[str, Any]]
    single_session: bool
    max_sessions: Any
    idle_seconds: float
    sessions: dict[str, Session]
    reply: Callable[[str | ET.Element], Response]

    def _logon(self, request: Request) -> Response:
        operator = (request.arg("Operator") or "").upper()
        profile = self.operators.get(operator)
        if profile is None or request.arg("OperatorPassword", "") != profile["password"]:
            return self.reply(f"ERROR: Invalid operator '{operator}' or password")
        if (request.arg("CompanyId") or "").upper() != self.company_id:
            return self.reply(f"ERROR: Company '{request.arg('CompanyId')}' not found")
        if request.arg("CompanyPassword", "") != self.company_password:
            return self.reply("ERROR: Invalid company password")
        self._expire_idle()
        if self.single_session:
            for user_id in [u for u, s in self.sessions.items() if s.operator == operator]:
                del self.sessions[user_id]
        if self.max_sessions is not None and len(self.sessions) >= int(self.max_sessions):
            return self.reply("ERROR: e.net license limit reached: no licences are available")
        user_id = uuid.uuid4().hex.upper()
        self.sessions[user_id] = Session(operator, self.now())
        return self.reply(user_id + "  ")  # SYSPRO pads the UserId with spaces [O]

    def _logoff(self, request: Request) -> Response:
        self.sessions.pop((request.arg("UserId") or "").strip(), None)
        return self.reply("0")

    def _getlogonprofile(self, request: Request) -> Response:
        try:
            session = self._session(request)
        except BoError as exc:
            return self.reply(f"ERROR: {exc}")
        root = ET.Element("Profile")
        add_element(root, "CompanyId", self.company_id)
        add_element(root, "CompanyName", "Clarity Demo Engineering Ltd")
        add_element(root, "OperatorCode", session.operator)
        add_element(root, "SystemLanguage", "05")
        add_element(root, "CompanyDate", date.fromtimestamp(self.now()).isoformat())
        return self.reply(root)

    def _expire_idle(self) -> None:
        cutoff = self.now() - self.idle_seconds
        for user_id in [u for u, s in self.sessions.items() if s.last_used < cutoff]:
            del self.sessions[user_id]

    def _session(self, request: Request) -> Session:
        self._expire_idle()
        user_id = (request.arg("UserId") or "").strip()
        session = self.sessions.get(user_id)
        if session is None:
            raise BoError(f"UserId '{user_id}' is not logged on or the session has expired")
        session.last_used = self.now()
        return session

    def expire_sessions(self) -> None:
        """End every session, as an e.net service restart does."""
        with self.lock:
            self.sessions.clear()
