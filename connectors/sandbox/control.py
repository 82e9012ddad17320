"""A client for a sandbox's control API, for tests, benchmarks and demos."""

from __future__ import annotations

from typing import Any

import requests


class SandboxControl:
    """Switch faults and limits, move the clock, read stats, reset — over HTTP."""

    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()

    def _call(self, method: str, name: str, body: Any = None) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_sandbox/{name}", json=body, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def faults(self, **plan: Any) -> dict[str, Any]:
        """Replace the fault plan: ``shares={"5xx": 0.2}``, ``next=["reset", "429"]``, …"""
        result: dict[str, Any] = self._call("POST", "faults", plan)
        return result

    def limits(self, **limits: int) -> dict[str, int]:
        """Override rate rules by name (``minute=5``); with no arguments, read them."""
        result: dict[str, int] = self._call("POST", "limits", limits)
        return result

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "clock", {"advance": seconds})

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def reset(self) -> None:
        self._call("POST", "reset")
