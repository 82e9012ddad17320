"""Shared fixtures: a real Redis, and sandboxes served on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis

# pytest-django puts the project root (beside manage.py) on sys.path; with
# ``-p no:django`` nothing does, so these tests do it themselves.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from connectors.base import ConnectionConfig, InMemoryTokenStore  # noqa: E402
from connectors.http import RetryPolicy  # noqa: E402
from connectors.sandbox.control import SandboxControl  # noqa: E402
from connectors.sandbox.core import (  # noqa: E402
    HttpError,
    RateRule,
    Request,
    Response,
    SandboxApp,
    SandboxServer,
    json_response,
)
from connectors.sandbox.registry import create_app  # noqa: E402
from connectors.xero import (  # noqa: E402
    XeroConnector,
    XeroTenant,
    authorization_url,
    exchange_code,
)
from connectors.xero import xero_config as xero_config_builder  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL when set, else a private redis-server on a free loopback port."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("no REDIS_URL and no redis-server binary")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.05)
    client.close()
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def unique_key() -> str:
    """A key no other test uses, so tests can share one Redis without flushing it."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """Start a sandbox (a system name or an app) on a free port; stopped after the test."""
    servers: list[SandboxServer] = []

    def start(app: str | SandboxApp, **options: Any) -> SandboxServer:
        if isinstance(app, str):
            app = create_app(app, options)
        server = SandboxServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def control() -> Callable[[SandboxServer], SandboxControl]:
    return lambda server: SandboxControl(server.url)


class DemoSandbox(SandboxApp):
    """A minimal system: a list of widgets, 5 calls a minute and 2 in flight per tenant."""

    name = "demo"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        tenant = lambda request: request.header("tenant")  # noqa: E731
        self.rate_rules = [
            RateRule("minute", 5, 60, tenant),
            RateRule("concurrent", 2, None, tenant),
        ]
        self.route("GET", "/widgets", self.list_widgets)
        self.route("POST", "/widgets", self.add_widget)
        self.route("GET", "/widgets/{key}", self.get_widget)
        self.route("GET", "/secure", self.secure)

    def reset_state(self) -> None:
        self.widgets: dict[str, dict[str, Any]] = {"w1": {"key": "w1", "name": "seeded"}}

    def rate_headers(self, request: Request, remaining: Any) -> dict[str, str]:
        return {"X-Remaining": str(remaining["minute"])} if "minute" in remaining else {}

    def list_widgets(self, request: Request) -> Response:
        return json_response(list(self.widgets.values()))

    def add_widget(self, request: Request) -> Response:
        body = request.json()
        if not body.get("name"):
            raise HttpError(json_response({"problem": "name is required"}, 400))
        key = f"w{len(self.widgets) + 1}"
        self.widgets[key] = {"key": key, **body}
        self.count("created", "widgets")
        return json_response(self.widgets[key], 201)

    def get_widget(self, request: Request) -> Response:
        widget = self.widgets.get(request.params["key"])
        if widget is None:
            raise HttpError(json_response({"problem": "no such widget"}, 404))
        return json_response(widget)

    def secure(self, request: Request) -> Response:
        if request.header("Authorization") != "Bearer good":
            return json_response({"problem": "token expired"}, 401)
        return json_response({"ok": True})


@pytest.fixture
def demo_server(start_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return start_sandbox(DemoSandbox())


# -- Xero ----------------------------------------------------------------------

XERO_CLIENT = {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
XERO_CALLBACK = "http://localhost:8000/xero/callback"


@pytest.fixture
def xero_server(start_sandbox: Callable[..., SandboxServer]) -> SandboxServer:
    return start_sandbox("xero", demo={"contacts": 250, "items": 40, "invoices": 20})


@pytest.fixture
def xero_config(xero_server: SandboxServer) -> ConnectionConfig:
    return xero_config_for(xero_server.url)


@pytest.fixture
def xero_tokens(xero_config: ConnectionConfig) -> InMemoryTokenStore:
    """Tokens from the full "Connect to Xero" flow against the sandbox."""
    store = InMemoryTokenStore()
    xero_connect(xero_config, store)
    return store


@pytest.fixture
def xero(xero_config: ConnectionConfig, xero_tokens: InMemoryTokenStore) -> XeroConnector:
    return XeroConnector(xero_config, xero_tokens, retry=FAST_RETRY)


@pytest.fixture
def make_xero_config() -> Callable[..., ConnectionConfig]:
    return xero_config_for


@pytest.fixture
def connect_xero() -> Callable[[ConnectionConfig, InMemoryTokenStore], XeroTenant]:
    return xero_connect


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


FAST_RETRY = RetryPolicy(attempts=4, backoff_base=0.01, backoff_max=0.05, max_retry_after=2)


def xero_config_for(url: str, **settings: Any) -> ConnectionConfig:
    return xero_config_builder(
        connection_id="test-xero",
        redirect_uri=XERO_CALLBACK,
        sandbox_url=url,
        settings=settings,
        **XERO_CLIENT,
    )


def xero_connect(config: ConnectionConfig, store: InMemoryTokenStore) -> XeroTenant:
    """Press "Connect to Xero": follow the authorize redirect and exchange the code."""
    url, state = authorization_url(config)
    consent = requests.get(url, allow_redirects=False, timeout=10)
    assert consent.status_code == 302, consent.text
    return exchange_code(
        config, store, callback_url=consent.headers["Location"], expected_state=state
    )
