"""KashFlow's two-step logon: ``POST /v2/sessiontoken`` (user name and password)
answers a temporary token and three memorable-word positions, ``PUT`` with those
characters answers the session token, ``DELETE`` logs out; sessions expire when
idle and repeated failures lock the account.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from connectors.sandbox.core import HttpError, Request, Response, SandboxApp, json_response


class KashFlowAuth(SandboxApp):
    """The two-step logon (password, then three memorable-word characters), sessions
    with idle expiry, logout, and the lock after repeated failed logons."""

    settings: dict[str, Any]
    temp_tokens: dict[str, tuple[list[int], float]]
    sessions: dict[str, float]
    failed_logons: int
    locked: bool
    fail: Callable[..., HttpError]

    def authed(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Only ``Authorization: KfToken <SessionToken>`` is accepted [P, kashflow.com/developers/
        rest-api/authentication]. Any other header — ``Bearer <a valid token>`` included — is a
        token "invalid or in wrong format": 401 ``InvalidSessionToken``, the docs' one answer
        for invalid and expired tokens alike [P, same page]. A refused request changes nothing:
        only idling past the limit ends a session (nothing documents that a malformed request
        ends one, and a request that proves nothing cannot end a session in a real service [A]).
        """

        def guarded(request: Request) -> Response:
            scheme, _, token = (request.header("Authorization") or "").partition(" ")
            last_used = self.sessions.get(token) if scheme == "KfToken" else None
            idle = float(self.settings["session_idle_seconds"])
            if last_used is not None and self.now() - last_used > idle:
                del self.sessions[token]  # expired by idling [P: 60 minutes, configurable]
                last_used = None
            if last_used is None:
                raise self.fail(401, "InvalidSessionToken", "Session token provided is invalid.")
            self.sessions[token] = self.now()
            return handler(request)

        return guarded

    def _logon_failed(self, error: str, message: str) -> HttpError:
        self.failed_logons += 1
        if self.failed_logons >= int(self.settings["lock_after"]):
            self.locked = True
        return self.fail(401, error, message)

    def _refuse_if_locked(self) -> None:
        if self.locked:
            raise self.fail(
                401,
                "AccountLocked",
                "Your account has been locked due to too many failed login attempts.",
            )

    def logon_start(self, request: Request) -> Response:
        self._refuse_if_locked()
        body = request.json() or {}
        if (body.get("UserName"), body.get("Password")) != (
            self.settings["username"],
            self.settings["password"],
        ):
            raise self._logon_failed("InvalidCredentials", "Username or password is incorrect.")
        word = str(self.settings["memorable_word"])
        positions = sorted(self.random.sample(range(1, len(word) + 1), min(3, len(word))))
        token = str(uuid.uuid4())
        self.temp_tokens[token] = (positions, self.now())
        return json_response(
            {
                "TemporaryToken": token,
                "MemorableWordList": [{"Position": p, "Value": ""} for p in positions],
                "IsAdmin": True,
                "PackageName": "KashFlow Business",
                "SubscriptionExpired": False,
                "HasTemporaryPassword": False,
                "PartnerId": 0,
            }
        )

    def logon_finish(self, request: Request) -> Response:
        self._refuse_if_locked()
        body = request.json() or {}
        issued = self.temp_tokens.pop(str(body.get("TemporaryToken")), None)
        if issued is None or self.now() - issued[1] > float(self.settings["temp_token_seconds"]):
            raise self.fail(401, "InvalidTemporaryToken", "Temporary token is invalid or expired.")
        word = str(self.settings["memorable_word"]).lower()
        given = {
            int(item.get("Position", 0)): str(item.get("Value", "")).lower()
            for item in body.get("MemorableWordList") or []
            if isinstance(item, dict)
        }
        if any(given.get(p) != word[p - 1] for p in issued[0]):
            raise self._logon_failed(
                "InvalidMemorableWord", "The memorable word characters are incorrect."
            )
        self.failed_logons = 0
        token = str(uuid.uuid4())
        self.sessions[token] = self.now()
        return json_response(
            {
                "SessionToken": token,
                "CompanyName": self.settings["company_name"],
                "IsAdmin": True,
                "SubscriptionExpired": False,
            }
        )

    def logout(self, request: Request) -> Response:
        """``DELETE /sessiontoken`` ends the session it is sent with (behind ``authed``) [P]."""
        self.sessions.pop((request.header("Authorization") or "").partition(" ")[2], None)
        return json_response({})
