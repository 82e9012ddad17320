"""Starts throwaway PostgreSQL and Redis servers on loopback for tests, benchmarks and the demo.

Plain Python with no Django import, so the test command can use it before
anything is configured. Servers run on free ports in a temporary directory and
are always stopped, even when the wrapped command fails or is interrupted.

    python -m devtools.localservers --postgres --redis -- pytest -x

Dev tooling, not part of the product: it lives outside the installed packages
(``pip install .`` leaves it out). The Redis the demo itself runs on, which must
work with nothing installed, is product code in ``clarity/embedded_redis.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from clarity.embedded_redis import free_port, redis_server_binary
from clarity.embedded_redis import redis_server as start_redis_server

PG_USER = "clarity"
PG_DB = "clarity"
SERVICE_ACCOUNT = "clarity-services"


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


def _apt_install(*packages: str) -> None:
    """Install OS packages the machine lacks, in one apt-get call (CI machines start bare)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            f"{' and '.join(packages)} not installed and cannot be installed automatically "
            f"here; install with your package manager."
        )
    print(f"localservers: installing {' '.join(packages)} with apt-get…", file=sys.stderr,
          flush=True)  # fmt: skip
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    install = ["apt-get", "install", "-y", "-q", *packages]
    if subprocess.run(install, check=False, **quiet).returncode:
        subprocess.run(["apt-get", "update", "-q"], check=True, **quiet)
        subprocess.run(install, check=True, **quiet)


def missing_packages() -> list[str]:
    """The OS packages the tests use (servers and the browser) that the machine lacks."""
    wanted = {
        "redis-server": redis_server_binary() is None,
        "postgresql": _pg_bindir() is None,
        "chromium": shutil.which("chromium") is None,
    }
    return [package for package, missing in wanted.items() if missing]


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


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """The machine's redis-server (installed with apt-get when missing) on a free port."""
    if redis_server_binary() is None:
        _apt_install("redis-server")
    with start_redis_server(workdir) as url:
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
    parser.add_argument(
        "--install-missing",
        action="store_true",
        help="only install, in one apt-get call, the OS packages the tests use that are missing",
    )
    parser.add_argument("command", nargs="*", help="the command to run with the servers up")
    args = parser.parse_args(argv)
    if args.install_missing:
        missing = missing_packages()
        if missing:
            _apt_install(*missing)
        return 0
    if not args.command:
        parser.error("give the command to run with the servers up")
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
