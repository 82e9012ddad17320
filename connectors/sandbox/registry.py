"""Which systems have a sandbox, where each lives, and starting them together.

A system's sandbox package (``connectors/sandbox/<system>/``) has an ``app`` module
exposing ``create_app(options) -> SandboxApp``. A module not written yet is skipped,
not an error, so the command works while the systems are being built one by one.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from connectors.sandbox.core import SandboxApp, SandboxServer

SANDBOXES: dict[str, str] = {
    "xero": "connectors.sandbox.xero.app",
    "syspro": "connectors.sandbox.syspro.app",
    "salesforce": "connectors.sandbox.salesforce.app",
    "kashflow": "connectors.sandbox.kashflow.app",
}

DEFAULT_PORTS: dict[str, int] = {"xero": 8701, "syspro": 8702, "salesforce": 8703, "kashflow": 8704}

AppFactory = Callable[[Mapping[str, Any]], SandboxApp]
PORTS_ENV = "CLARITY_SANDBOX_PORTS"


def load_factory(system: str) -> AppFactory | None:
    """The system's ``create_app``, or None while its module does not exist."""
    module_name = SANDBOXES[system]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and f"{module_name}.".startswith(f"{exc.name}."):
            return None
        raise
    factory: AppFactory = module.create_app
    return factory


def create_app(system: str, options: Mapping[str, Any] | None = None) -> SandboxApp:
    factory = load_factory(system)
    if factory is None:
        raise LookupError(f"no sandbox for {system!r} yet ({SANDBOXES[system]} is missing)")
    return factory(options or {})


def parse_ports(text: str) -> dict[str, int]:
    """``"xero=8701,syspro=8702"`` -> ``{"xero": 8701, "syspro": 8702}``."""
    ports: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        system, _, port = item.partition("=")
        if system not in SANDBOXES or not port.isdigit():
            raise ValueError(f"expected system=port with system in {sorted(SANDBOXES)}: {item!r}")
        ports[system] = int(port)
    return ports


def sandbox_ports() -> dict[str, int]:
    """Where the local sandboxes listen: the default ports, or ``CLARITY_SANDBOX_PORTS``
    (``xero=18701,…``) so two demo stacks (two checkouts, a test) can run side by side."""
    return {**DEFAULT_PORTS, **parse_ports(os.environ.get(PORTS_ENV, ""))}


def start_sandboxes(
    systems: Iterable[str] | None = None,
    *,
    ports: Mapping[str, int] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    host: str = "127.0.0.1",
    state_dir: Path | None = None,
) -> tuple[dict[str, SandboxServer], list[str]]:
    """Start each available sandbox; returns the running servers and the systems skipped.

    With ``state_dir``, each system keeps its state in ``<state_dir>/<system>.pickle``:
    it starts from what was saved there and saves while running and when stopped.
    """
    ports = {**sandbox_ports(), **(ports or {})}
    servers: dict[str, SandboxServer] = {}
    skipped: list[str] = []
    for system in systems or SANDBOXES:
        factory = load_factory(system)
        if factory is None:
            skipped.append(system)
            continue
        app = factory((options or {}).get(system, {}))
        state_file = state_dir / f"{system}.pickle" if state_dir is not None else None
        server = SandboxServer(app, host=host, port=ports[system], state_file=state_file)
        servers[system] = server.start()
    return servers, skipped
