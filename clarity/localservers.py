"""Starts throwaway PostgreSQL and Redis servers on loopback for tests, benchmarks and the demo.

Plain Python with no Django import, so the test command can use it before
anything is configured. Servers run on free ports in a temporary directory and
are always stopped, even when the wrapped command fails or is interrupted.

    python -m clarity.localservers --postgres --redis -- pytest -x
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

PG_USER = "clarity"
PG_DB = "clarity"
SERVICE_ACCOUNT = "clarity-services"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f}s")


# What `manage.py up` must not inherit: it runs on its embedded defaults.
_UP_DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")


@contextlib.contextmanager
def up_stack(
    var_dir: Path, port: int, command: list[str] | None = None
) -> Iterator[tuple[subprocess.Popen, Path]]:
    """The README's demo stack (``manage.py up``) on SQLite in ``var_dir`` with the
    embedded Redis, in a process group of its own; yields it and its log file.

    On exit it gets SIGTERM (``up`` takes it as Ctrl-C), then the whole group
    SIGKILL, so nothing it started outlives the caller.
    """
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in _UP_DROPPED_ENV}
    env.update(CLARITY_VAR_DIR=str(var_dir), CLARITY_EMBEDDED_REDIS="1")
    log = var_dir.parent / f"up-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            command or [sys.executable, "manage.py", "up", "--port", str(port)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield proc, log
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for_log(pattern: str, log: Path, proc: subprocess.Popen, timeout: float = 90) -> re.Match:
    """The first match of ``pattern`` in a process's log; raises if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text())
        if found:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"'{pattern}' never appeared in {log}:\n{log.read_text()[-3000:]}")


def _apt_install(package: str) -> None:
    """Install an OS package when the machine lacks it (CI machines start bare)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            f"{package} is not installed and cannot be installed automatically here; "
            f"install it with your package manager."
        )
    print(f"localservers: installing {package} with apt-get…", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    if subprocess.run(["apt-get", "install", "-y", "-q", package], check=False, **quiet).returncode:
        subprocess.run(["apt-get", "update", "-q"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True, **quiet)


def ensure_chromium() -> str | None:
    """Debian's Chromium for the browser tests, installed when missing (never a test tool's
    own browser download). None, saying why, only where it cannot be installed."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        _apt_install("chromium")
        found = shutil.which("chromium")
    if found is None:
        print("localservers: no chromium, and not root with apt-get to install it.",
              file=sys.stderr)  # fmt: skip
    return found


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


@contextlib.contextmanager
def redis_server(workdir: Path, *, install: bool = True) -> Iterator[str]:
    binary = redis_server_binary()
    if binary is None and install:
        _apt_install("redis-server")
        binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("redis-server is not available")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, proc, "redis-server")
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
        with redis_server(workdir, install=False) as url:
            yield url
    else:
        with embedded_redis() as url:
            yield url


def _pg_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _service_account() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: pick (or make) an ordinary account for it."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SERVICE_ACCOUNT):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SERVICE_ACCOUNT,
        ],
        check=True,
    )
    entry = pwd.getpwnam(SERVICE_ACCOUNT)
    return entry.pw_uid, entry.pw_gid


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    bindir = _pg_bindir()
    if bindir is None:
        _apt_install("postgresql")
        bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not available")
    account = _service_account()
    as_account: dict = {}
    if account:
        as_account = {"user": account[0], "group": account[1], "extra_groups": []}
        os.chown(workdir, *account)
    datadir = workdir / "pgdata"
    port = free_port()
    subprocess.run(
        [bindir / "initdb", "-D", datadir, "-U", PG_USER, "-A", "trust", "-E", "UTF8",
         "--no-locale", "--no-sync"],
        check=True, stdout=subprocess.DEVNULL, **as_account,
    )  # fmt: skip
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
        "-c shared_buffers=256MB"
    )
    pg_ctl = [bindir / "pg_ctl", "-D", datadir, "-l", workdir / "postgres.log"]
    subprocess.run([*pg_ctl, "-o", options, "-w", "start"], check=True,
                   stdout=subprocess.DEVNULL, **as_account)  # fmt: skip
    try:
        subprocess.run(
            [bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, PG_DB],
            check=True, **as_account,
        )  # fmt: skip
        yield f"postgres://{PG_USER}@127.0.0.1:{port}/{PG_DB}"
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], check=False,
                       stdout=subprocess.DEVNULL, **as_account)  # fmt: skip


def _raise_on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="start PostgreSQL: DATABASE_URL")
    parser.add_argument("--redis", action="store_true", help="start Redis: REDIS_URL")
    parser.add_argument("command", nargs="+", help="the command to run with the servers up")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_term)
    env = dict(os.environ)
    with (
        tempfile.TemporaryDirectory(prefix="clarity-servers-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        if args.postgres:
            env["DATABASE_URL"] = stack.enter_context(postgres_server(workdir))
        if args.redis:
            env["REDIS_URL"] = stack.enter_context(redis_server(workdir))
        try:
            return subprocess.run(args.command, env=env, check=False).returncode
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
