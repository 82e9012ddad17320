"""Fixtures for the clarity-agent program (agent/): its configuration, the agent run in a
thread or as its own process, and a SYSPRO sandbox that knows which process connects."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox.core import Request, Response, SandboxServer
from connectors.sandbox.registry import create_app

AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
if str(AGENT_DIR) not in sys.path:  # the agent is its own package, not installed with ours
    sys.path.insert(0, str(AGENT_DIR))

from clarity_agent.config import parse  # noqa: E402
from clarity_agent.relay import Agent  # noqa: E402

SYSPRO_LOGON = {
    "operator": "ADMIN",
    "operator_password": "demo",
    "company_id": "EDU1",
    "company_password": "demo",
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def agent_settings(
    server_url: str,
    token: str,
    base_urls: list[str],
    *,
    credentials: bool = True,
    **limits: Any,
) -> dict[str, Any]:
    return {
        "server": {"url": server_url, "token": token, "allow_plain_http": True},
        "syspro": {"base_urls": base_urls, **(SYSPRO_LOGON if credentials else {})},
        "limits": {"poll_wait_s": 2, **limits},
    }


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Gate:
    """Which processes open connections to a sandbox: the sandbox's own log by client.

    Installed as the server's ``verify_request``, it finds the process owning the peer's
    end of each accepted connection (Linux: /proc/net/tcp and each candidate's fds).
    With ``only`` set, a connection from any other process is refused and logged.
    """

    only: set[int] = field(default_factory=set)
    accepted: list[int] = field(default_factory=list)
    refused: list[int | None] = field(default_factory=list)

    def __call__(self, request: socket.socket, client_address: Any) -> bool:
        if not self.only:
            self.accepted.append(-1)
            return True
        pid = owner(client_address, request.getsockname(), self.only)
        if pid is None:
            self.refused.append(pid)
            return False
        self.accepted.append(pid)
        return True


def _hex_address(address: tuple[str, int]) -> str:
    packed = socket.inet_aton(address[0])
    return f"{int.from_bytes(packed, 'little'):08X}:{address[1]:04X}"


def owner(peer: tuple[str, int], local: tuple[str, int], candidates: set[int]) -> int | None:
    """Which of ``candidates`` holds the client end of the connection peer → local."""
    inode = None
    for _ in range(20):  # the client's row may appear a moment after accept
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == _hex_address(peer) and fields[2] == _hex_address(local):
                inode = fields[9]
        if inode:
            break
        time.sleep(0.005)
    target = f"socket:[{inode}]"
    for pid in candidates:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


@pytest.fixture
def syspro_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """A SYSPRO sandbox on a free loopback port whose ``gate`` logs (and may restrict)
    the processes that connect to it."""
    servers: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        server = SandboxServer(create_app("syspro", options))
        server.gate = Gate()  # type: ignore[attr-defined]
        server.httpd.verify_request = server.gate  # type: ignore[method-assign]
        server.seen = seen = []  # type: ignore[attr-defined]  # (path, query) of each call
        server.hooks = hooks = []  # type: ignore[attr-defined]  # called with each request
        handle = server.app.handle

        def recording(request: Request) -> Response:
            seen.append((request.path, {k: v[0] for k, v in request.query.items()}))
            for hook in list(hooks):
                hook(request)
            return handle(request)

        server.app.handle = recording  # type: ignore[method-assign]
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def thread_agent() -> Iterator[Callable[[dict[str, Any]], Agent]]:
    """The agent's loop in a thread of this process, stopped after the test."""
    started: list[tuple[Agent, threading.Thread]] = []

    def start(settings: dict[str, Any]) -> Agent:
        agent = Agent(parse(settings))
        thread = threading.Thread(target=agent.run, daemon=True)
        thread.start()
        started.append((agent, thread))
        return agent

    yield start
    for agent, thread in started:
        agent.stop()
        thread.join(timeout=30)


class AgentProcess:
    """``clarity-agent`` as the service manager runs it: its own process, its own log."""

    def __init__(self, config: Path, log: Path, token: str) -> None:
        self.config = config
        self.token = token
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        env = {**os.environ, "PYTHONPATH": str(AGENT_DIR)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "clarity_agent",
                    *("--config", str(self.config), "--log-level", "DEBUG"),
                ],
                stdout=log,
                stderr=log,
                env=env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"{text!r} not in the agent's log:\n{self.output()}"
            assert self.running(), f"the agent exited:\n{self.output()}"
            time.sleep(0.05)


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start ``clarity-agent`` processes; any still running are killed after the test."""
    started: list[AgentProcess] = []

    def start(settings: dict[str, Any], name: str = "agent") -> AgentProcess:
        config = write_config(tmp_path / f"{name}.toml", settings)
        log = tmp_path / f"{name}.log"
        process = AgentProcess(config, log, settings["server"]["token"]).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.running():
            process.kill()


@pytest.fixture
def relay_connection(transactional_db: None) -> Iterator[Callable[..., tuple[Any, str]]]:
    """A SYSPRO connection reached through an agent, and a new agent token for it. The
    connection's base URL names no reachable host: only the agent knows SYSPRO's."""
    import django_rq

    from connectors.agents.services import agent_create
    from connectors.models import Connection, System

    redis = django_rq.get_connection("default")
    stale = list(redis.scan_iter("clarity:agent:*", count=1000))
    if stale:  # relay keys carry connection ids, which a new test database hands out again
        redis.delete(*stale)
    names = iter(range(1, 1000))

    def make(connection: Connection | None = None, **settings: Any) -> tuple[Any, str]:
        if connection is None:
            connection = Connection.objects.create(
                system=System.SYSPRO,
                name=f"SYSPRO on premises {next(names)}",
                base_url=UNREACHABLE_SYSPRO,
                settings={"company_id": "EDU1", "operator": "ADMIN", "through_agent": True}
                | settings,
            )
        return agent_create(connection=connection, name=f"agent {next(names)}")

    yield make


UNREACHABLE_SYSPRO = "https://syspro.customer.invalid/SYSPROWCFService/Rest"
