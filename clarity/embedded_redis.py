"""The Redis that ``manage.py up`` runs on: the machine's redis-server, else one inside the process.

Product code, not dev tooling: the demo (``./scripts/run``) must start on a fresh
laptop with no server installed, so it ships in the package. Installing servers
and starting PostgreSQL for tests and benchmarks is dev-only and lives in
``devtools/localservers.py``, which is not installed by ``pip install .``.
Plain Python with no Django import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A loopback TCP port no one listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    """Return once ``proc`` accepts connections on ``port``; raise if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """The machine's redis-server on a free loopback port, with no persistence; always stopped."""
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server is not available")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own command line
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    """A Redis-protocol server inside this process, for machines with no redis-server.

    fakeredis's TCP server is used rather than an in-process fake because RQ's
    worker forks: the web server, the worker and its work horses must all
    reach the same server over a socket, as they would a real Redis.
    """
    from fakeredis import TcpFakeServer
    from fakeredis._clients._tcp_server import TCPFakeRequestHandler
    from redis.exceptions import ResponseError

    class _AddressAsText:
        """fakeredis reports a peer as a tuple; redis-py's CLIENT INFO (RQ calls it) chokes."""

        def __init__(self, sock: socket.socket) -> None:
            self._sock = sock

        def __getattr__(self, name: str) -> object:
            return getattr(self._sock, name)

        def getpeername(self) -> str:
            return "{}:{}".format(*self._sock.getpeername())

        def getsockname(self) -> str:
            return "{}:{}".format(*self._sock.getsockname())

    class Handler(TCPFakeRequestHandler):
        def setup(self) -> None:
            sock = self.request
            self.request = _AddressAsText(sock)
            try:
                super().setup()
            finally:
                self.request = self.connection = sock
            # fakeredis hangs up on a command error (e.g. NOSCRIPT, which redis-py's
            # EVALSHA expects and answers with SCRIPT LOAD); reply with the error instead.
            read_response = self.current_client.read_response

            def replying_errors(*args: object, **kwargs: object) -> object:
                try:
                    return read_response(*args, **kwargs)
                except ResponseError as exc:
                    return exc

            self.current_client.read_response = replying_errors

    def quiet_error(request: object, client_address: object) -> None:
        """A client that goes away mid-command (a worker stopped, a horse killed) is
        normal here: logged, not printed as a traceback over the demo's console."""
        logger.debug("embedded Redis: client %s dropped", client_address, exc_info=True)

    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.RequestHandlerClass = Handler
    server.handle_error = quiet_error  # type: ignore[method-assign]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def any_redis(workdir: Path) -> Iterator[str]:
    """A real redis-server when the machine has one, else the embedded one; nothing installed."""
    if redis_server_binary() and not os.environ.get("CLARITY_EMBEDDED_REDIS"):
        with redis_server(workdir) as url:
            yield url
    else:
        with embedded_redis() as url:
            yield url
