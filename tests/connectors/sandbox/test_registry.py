from __future__ import annotations

import io
import sys
import types

import pytest
import requests

from connectors.sandbox import registry
from connectors.sandbox.core import SandboxApp


@pytest.fixture
def demo_module(monkeypatch: pytest.MonkeyPatch, demo_server) -> str:  # type: ignore[no-untyped-def]
    module = types.ModuleType("demo_sandbox_module")
    module.create_app = lambda options: type(demo_server.app)(options)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(registry.SANDBOXES, "demo", module.__name__)
    monkeypatch.setitem(registry.SANDBOXES, "missing", "connectors.sandbox.not_written_yet")
    return "demo"


def test_parse_ports() -> None:
    assert registry.parse_ports("xero=9001, kashflow=9004") == {"xero": 9001, "kashflow": 9004}
    assert registry.parse_ports("") == {}
    with pytest.raises(ValueError, match="system=port"):
        registry.parse_ports("nosuch=1")
    with pytest.raises(ValueError, match="system=port"):
        registry.parse_ports("xero")


def test_every_system_is_registered() -> None:
    assert set(registry.SANDBOXES) == {"xero", "syspro", "salesforce", "kashflow"}
    assert sorted(registry.DEFAULT_PORTS.values()) == [8701, 8702, 8703, 8704]


def test_start_skips_missing_modules(demo_module: str) -> None:
    servers, skipped = registry.start_sandboxes(
        ["demo", "missing"], ports={"demo": 0}, options={"demo": {"seed": 3}}
    )
    try:
        assert skipped == ["missing"]
        app = servers["demo"].app
        assert isinstance(app, SandboxApp)
        assert app.options == {"seed": 3}
        assert requests.get(f"{servers['demo'].url}/widgets", timeout=5).status_code == 200
    finally:
        for server in servers.values():
            server.stop()


def test_create_app_of_a_missing_module_says_so(demo_module: str) -> None:
    with pytest.raises(LookupError, match="not_written_yet"):
        registry.create_app("missing")


def test_management_command_reports_skipped_systems(demo_module: str) -> None:
    pytest.importorskip("django")
    from connectors.management.commands.sandbox import Command

    out = io.StringIO()
    Command(stdout=out).handle(ports="", only="missing", seed=1, options="")
    assert "missing: skipped" in out.getvalue()
