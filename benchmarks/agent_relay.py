"""The same SYSPRO e.net calls made directly and through one on-premises agent, in one run.

Real parts: PostgreSQL and Redis (started by ``.ci/bench``); the web server
(gunicorn, threaded, DEBUG off) serving ``/agent/v1/``; one
``clarity-agent`` process; the SYSPRO sandbox in a process of its own whose listener logs,
for every connection it accepts, the process that opened it (Linux /proc: the owner of
the client's socket among the candidate processes, "other" when none of them).

1. Direct: a SYSPRO connection holding its own credentials reads CALLS customers one
   after the other (``read_one``: one COMFND Query/Query call each) from this process.
2. Through the agent: a second connection, ``through_agent`` with the agent holding the
   credentials (its base URL names no reachable host), reads the same customers the same
   way: server → Redis relay → web server → agent → SYSPRO and back.
3. Throughput: the same calls through the agent from THREADS callers at once.

Figures: ``direct_p95_ms`` and ``agent_p95_ms`` (per call, sequential),
``overhead_p95_ms`` (their difference), ``agent_calls_per_s`` (phase 3),
``direct_connections_from_server`` (connections to SYSPRO opened during phases 2 and 3
by any process but the agent's); ``direct_calls_per_s`` (phase 3 made directly, for
comparison: the same machine's ceiling for these calls). Targets: overhead_p95_ms ≤ 50,
agent_calls_per_s ≥ 100, direct_connections_from_server = 0.
Run with ``bash .ci/bench agent_relay [CALLS]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clarity.settings")
os.environ.update(
    DEBUG="False",
    SECRET_KEY=Fernet.generate_key().decode() * 2,
    CLARITY_ENCRYPTION_KEYS=f"bench={Fernet.generate_key().decode()}",
    CLARITY_FAST_PASSWORD_HASHER="1",  # noqa: S106 — a switch, not a password
    # Persistent database connections, as production runs the web server: each poll and
    # answer is a request, and opening a PostgreSQL connection for each costs more than it.
    CONN_MAX_AGE="600",
)

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 500
THREADS = 16
UNREACHABLE = "https://syspro.customer.invalid/SYSPROWCFService/Rest"

# The sandbox process: SYSPRO's emulator behind a listener that logs who connects.
SANDBOX = r"""
import os, socket, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from connectors.sandbox.core import SandboxServer
from connectors.sandbox.registry import create_app

port, log_path = int(sys.argv[2]), sys.argv[3]
candidates = [int(p) for p in sys.argv[4].split(",")]

def hexaddr(address):
    return f"{int.from_bytes(socket.inet_aton(address[0]), 'little'):08X}:{address[1]:04X}"

def owner(peer, local):
    inode = None
    for _ in range(50):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if f[1] == hexaddr(peer) and f[2] == hexaddr(local):
                inode = f[9]
        if inode:
            break
        time.sleep(0.002)
    target = f"socket:[{inode}]"
    for pid in candidates:
        with __import__("contextlib").suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with __import__("contextlib").suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return str(pid)
    return "other"

log = open(log_path, "a", buffering=1)
server = SandboxServer(create_app("syspro", {}), port=port)
def verify(request, client_address):
    log.write(owner(client_address, request.getsockname()) + "\n")
    return True
server.httpd.verify_request = verify
server.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a process meant to listen on {port} exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def workers(proc: subprocess.Popen) -> list[int]:
    """gunicorn's worker processes (children of its arbiter), candidates for the log."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if len(children) >= 2:
                return [int(c) for c in children]
        time.sleep(0.2)
    return []


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def timed_reads(connector, codes: list[str]) -> list[float]:
    samples = []
    for code in codes:
        started = time.perf_counter()
        assert connector.read_one("ArCustomer", code) is not None, code
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def concurrent_reads(connection, codes: list[str]) -> float:
    """Seconds for THREADS callers, each with its own connector, to read ``codes``."""
    from connectors.configs import connector_for

    local = threading.local()

    def read(code: str) -> None:
        if not hasattr(local, "connector"):
            local.connector = connector_for(connection)
        assert local.connector.read_one("ArCustomer", code) is not None

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(read, codes[: THREADS * 2]))  # each thread's connector warmed up
        started = time.perf_counter()
        list(pool.map(read, codes))
        return time.perf_counter() - started


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from connectors.agents.services import agent_create
    from connectors.configs import connector_for
    from connectors.models import Connection

    call_command("migrate", verbosity=0)
    tmp = Path(tempfile.mkdtemp(prefix="agent-relay-"))
    web_port, syspro_port = free_port(), free_port()
    syspro_url = f"http://127.0.0.1:{syspro_port}"
    procs: list[subprocess.Popen] = []

    def start(name: str, argv: list[str], **kw) -> subprocess.Popen:
        with open(tmp / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                    start_new_session=True, **kw)  # fmt: skip
        procs.append(proc)
        return proc

    try:
        direct = Connection.objects.create(
            name="SYSPRO direct",
            system="syspro",
            base_url=syspro_url,
            settings={"company_id": "EDU1", "operator": "ADMIN"},
            credentials={"operator_password": "demo", "company_password": "demo"},
        )
        relayed = Connection.objects.create(
            name="SYSPRO through an agent",
            system="syspro",
            base_url=UNREACHABLE,
            settings={"company_id": "EDU1", "operator": "ADMIN", "through_agent": True},
        )
        _, token = agent_create(connection=relayed, name="bench agent")
        # As production runs it (README): gunicorn with threads, so held polls starve
        # nothing; it also turns Nagle's algorithm off, which runserver does not.
        web = start("web", [str(Path(sys.executable).with_name("gunicorn")), "clarity.wsgi",
                            "--bind", f"127.0.0.1:{web_port}", "--worker-class", "gthread",
                            "--workers", "2", "--threads", "16"])  # fmt: skip
        wait_port(web_port, web)
        config = tmp / "agent.toml"
        config.write_text(
            f'[server]\nurl = "http://127.0.0.1:{web_port}"\ntoken = "{token}"\n'
            "allow_plain_http = true\n"
            f'[syspro]\nbase_urls = ["{syspro_url}"]\noperator = "ADMIN"\n'
            'operator_password = "demo"\ncompany_id = "EDU1"\ncompany_password = "demo"\n'
            f"[limits]\nthreads = {THREADS}\n"
        )
        agent = start("agent", [sys.executable, "-m", "clarity_agent", "--config", str(config),
                                "--log-level", "WARNING"],
                      env={**os.environ, "PYTHONPATH": str(ROOT / "agent")})  # fmt: skip
        connections_log = tmp / "connections.log"
        candidates = ",".join(str(p) for p in (os.getpid(), web.pid, agent.pid, *workers(web)))
        sandbox = start("sandbox", [sys.executable, "-c", SANDBOX, str(ROOT), str(syspro_port),
                                    str(connections_log), candidates])  # fmt: skip
        wait_port(syspro_port, sandbox)

        codes = [f"{n:07d}" for n in range(1, 301)]
        codes = (codes * (CALLS // len(codes) + 1))[:CALLS]

        log(f"direct: {CALLS} reads, then from {THREADS} threads")
        direct_connector = connector_for(direct)
        timed_reads(direct_connector, codes[:20])  # logon and warm-up
        direct_ms = timed_reads(direct_connector, codes)
        direct_elapsed = concurrent_reads(direct, codes)

        relayed_connector = connector_for(relayed)
        deadline = time.monotonic() + 60
        while True:  # the agent's first poll
            with contextlib.suppress(Exception):
                timed_reads(relayed_connector, codes[:20])
                break
            if time.monotonic() > deadline:
                raise SystemExit("the agent never came online; see " + str(tmp))
            time.sleep(0.5)
        before = connections_log.read_text().splitlines()
        log(f"through the agent: {CALLS} reads")
        agent_ms = timed_reads(relayed_connector, codes)

        log(f"through the agent: {CALLS} reads from {THREADS} threads")
        elapsed = concurrent_reads(relayed, codes)
        during = connections_log.read_text().splitlines()[len(before) :]
        from_server = sum(1 for pid in during if pid != str(agent.pid))
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    direct_p95, agent_p95 = p95(direct_ms), p95(agent_ms)
    print(
        json.dumps(
            {
                "calls": CALLS,
                "direct_p95_ms": round(direct_p95, 1),
                "agent_p95_ms": round(agent_p95, 1),
                "overhead_p95_ms": round(agent_p95 - direct_p95, 1),
                "agent_calls_per_s": round(CALLS / elapsed, 1),
                "direct_calls_per_s": round(CALLS / direct_elapsed, 1),
                "direct_connections_from_server": from_server,
                "agent_connections": len(during) - from_server,
            }
        )
    )


if __name__ == "__main__":
    main()
