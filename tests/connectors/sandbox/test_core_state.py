"""A sandbox given a state file outlives its process: what it held (records, tokens,
id counters) is there again after a restart, as in the real systems the demo stands in for.
"""

from __future__ import annotations

import inspect
import itertools
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import SANDBOXES, create_app

CLIENT = {
    "grant_type": "client_credentials",
    "client_id": "3MVG9demo.clarity.connect.sandbox",
    "client_secret": "demo-client-secret-0123456789",
}
ACCOUNTS = "/services/data/v62.0/sobjects/Account"


def state_of(server: SandboxServer) -> Any:
    """The sandbox's state as plain values, to compare two sandboxes by."""
    return plain({name: getattr(server.app, name) for name in server.app._state_names})


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | deque):
        return [plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(repr(item) for item in value)
    if isinstance(value, random.Random):
        return value.getstate()
    if isinstance(value, itertools.count):
        return repr(value)
    if inspect.ismethod(value):
        return value.__name__
    if hasattr(value, "__dict__"):
        return type(value).__name__, plain(vars(value))
    return value


def salesforce_token(server: SandboxServer) -> str:
    return requests.post(f"{server.url}/services/oauth2/token", data=CLIENT, timeout=10).json()[
        "access_token"
    ]


def account_create(server: SandboxServer, token: str, name: str) -> str:
    created = requests.post(
        f"{server.url}{ACCOUNTS}",
        json={"Name": name},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


@pytest.mark.parametrize("system", sorted(SANDBOXES))
def test_every_sandbox_starts_again_from_what_it_saved(system, tmp_path):
    saved = tmp_path / f"{system}.pickle"
    first = SandboxServer(create_app(system, {"seed": 3}), state_file=saved).start()
    requests.get(f"{first.url}/_sandbox/stats", timeout=10)  # any handled request is a change
    first.stop()
    assert saved.exists()

    again = SandboxServer(create_app(system, {"seed": 3}), state_file=saved)
    assert again.restored
    assert state_of(again) == state_of(first)


def test_salesforce_keeps_records_tokens_and_ids_across_a_restart(tmp_path):
    state = tmp_path / "salesforce.pickle"
    first = SandboxServer(create_app("salesforce", {}), state_file=state).start()
    token = salesforce_token(first)
    kept = account_create(first, token, "Kept Ltd")
    first.stop()

    again = SandboxServer(create_app("salesforce", {}), state_file=state).start()
    try:
        # The token a client stored before the restart still works, the record is there,
        # and a new record gets a new id (the counter did not start again).
        auth = {"Authorization": f"Bearer {token}"}
        read = requests.get(f"{again.url}{ACCOUNTS}/{kept}", headers=auth, timeout=10)
        assert read.status_code == 200, read.text
        assert read.json()["Name"] == "Kept Ltd"
        assert account_create(again, token, "New Ltd") != kept
    finally:
        again.stop()


def test_without_a_state_file_every_start_is_the_demo_data(tmp_path):
    first = SandboxServer(create_app("salesforce", {})).start()
    token = salesforce_token(first)
    account_create(first, token, "Forgotten Ltd")
    first.stop()
    assert list(tmp_path.iterdir()) == []

    again = SandboxServer(create_app("salesforce", {})).start()
    try:
        refused = requests.get(
            f"{again.url}{ACCOUNTS}/x", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert refused.status_code == 401
    finally:
        again.stop()


def test_a_running_sandbox_saves_soon_after_a_change(tmp_path, monkeypatch):
    """A sandbox killed outright loses at most the last couple of seconds."""
    monkeypatch.setattr(SandboxServer, "SAVE_SECONDS", 0.2)
    state = tmp_path / "salesforce.pickle"
    server = SandboxServer(create_app("salesforce", {}), state_file=state).start()
    try:
        account = account_create(server, salesforce_token(server), "Saved Ltd")
        deadline = time.monotonic() + 5
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        copy = create_app("salesforce", {})
        assert copy.load_state(state)
        assert account in copy.data["Account"]
    finally:
        server.stop()


@pytest.mark.parametrize("damage", ["other options", "truncated"])
def test_a_state_file_it_cannot_trust_is_set_aside_for_the_demo_data(damage, tmp_path, caplog):
    state = tmp_path / "kashflow.pickle"
    saved = create_app("kashflow", {"seed": 1})
    saved.sessions["held-before"] = time.time()
    saved.save_state(state)
    options = {"seed": 1}
    if damage == "other options":
        options = {"seed": 2}
    else:
        state.write_bytes(state.read_bytes()[:100])

    again = SandboxServer(create_app("kashflow", options), state_file=state)
    assert not again.restored
    assert "starting afresh" in caplog.text
    assert again.app.sessions == {}


def test_a_save_is_atomic(tmp_path: Path):
    """The file is replaced whole: no temporary file is left beside it."""
    app = create_app("xero", {})
    app.save_state(tmp_path / "xero.pickle")
    app.save_state(tmp_path / "xero.pickle")
    assert [p.name for p in tmp_path.iterdir()] == ["xero.pickle"]
