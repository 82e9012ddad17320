"""``manage.py up``: the whole product on one machine, stopped together with Ctrl-C.

The console is for the person who started it: the banner (URL, logins, where
the logs are) and then one line per finished run. Every process logs to its
own file under ``var/log/``. The sandboxes keep their records and tokens under
``var/sandboxes/``, so a second ``up`` finds in them what its database
remembers having sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils import timezone

from clarity.embedded_redis import any_redis
from clarity.models import SyncRun
from clarity.services.demo import DemoLogin, demo_load, demo_loaded, demo_runs_finished

# How long the worker may take to finish the run in hand before it is stopped cold
# (its horse killed: the run is picked up again from the ledger on the next start).
WORKER_GRACE_SECONDS = 10


class Child:
    """One process of the stack, writing its output to ``var/log/<name>.log``."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        *,
        oneshot: bool = False,
    ) -> None:
        self.name = name
        self.oneshot = oneshot  # a task that ends by itself, not a server that must keep running
        self.log = log_dir / f"{name}.log"
        with self.log.open("a") as out:
            out.write(f"\n==== {datetime.now():%Y-%m-%d %H:%M:%S} manage.py {' '.join(argv[2:])}\n")
            out.flush()
            self.proc = _spawn(argv, env, out)

    def failed(self) -> bool:
        return self.proc.poll() not in (None, 0)

    def stop(self, timeout: float) -> None:
        """SIGTERM (each child takes it as its cue to stop cleanly), then SIGKILL."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        self.wait(timeout)

    def wait(self, timeout: float) -> bool:
        """True if it ended within ``timeout``; otherwise it is killed: nothing outlives us."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            return False
        return True


def _spawn(argv: list[str], env: dict[str, str], out: IO[str]) -> subprocess.Popen:
    """Start a child that ignores the terminal's Ctrl-C (it reaches the whole foreground
    process group): ``up`` alone decides the order things stop in, so no child dies
    half-way with a KeyboardInterrupt traceback. The ignore is inherited through exec;
    RQ's worker installs its own handler and takes Ctrl-C as "stop after this job"."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        signal.signal(signal.SIGINT, previous)


class Command(BaseCommand):
    help = (
        "Migrate, load demo data and run Redis, the sandboxes, an RQ worker, the Salesforce "
        "event subscriber and the web server."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--port", type=int, default=8000, help="web server port")
        parser.add_argument("--no-demo", action="store_true", help="skip the demo data")

    def handle(self, *args: object, port: int, no_demo: bool, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "`up` is the local demo stack; run the parts separately in production."
            )
        # `kill` and CI stop us with SIGTERM: clean up exactly as on Ctrl-C. SIGINT is
        # set too: a shell starting us in the background would have it ignored.
        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, signal.default_int_handler)
        var_dir = Path(settings.VAR_DIR)
        log_dir = var_dir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        _log_to(log_dir / "up.log")
        started = timezone.now()
        children: list[Child] = []
        try:
            call_command("migrate", interactive=False, verbosity=0)
            state_dir = var_dir / "sandboxes"
            if not no_demo and demo_loaded() and not any(state_dir.glob("*.pickle")):
                self.stdout.write(self.style.WARNING(
                    f"{_shown(state_dir)}/ holds no saved sandbox state, but the database has "
                    "the demo from an earlier start: the sandboxes begin again from their demo "
                    "data, without what the ledger says was sent. For a clean demo, stop, "
                    f"delete {_shown(var_dir)}/ and start again."
                ))  # fmt: skip
            logins = () if no_demo else demo_load()
            with (
                tempfile.TemporaryDirectory(prefix="clarity-up-") as tmp,
                any_redis(Path(tmp)) as redis_url,
            ):
                env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
                manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
                try:
                    servers = {
                        "sandboxes": ["sandbox", "--state-dir", str(state_dir)],
                        "worker": ["syncworker", "--with-scheduler"],
                        # Salesforce change events as they happen (Pub/Sub API, gRPC).
                        "subscriber": ["salesforce_subscriber"],
                        "web": ["runserver", f"127.0.0.1:{port}", "--noreload"],
                    }
                    if "sandbox" not in get_commands():
                        del servers["sandboxes"]
                    for name, argv in servers.items():
                        children.append(Child(name, [*manage, *argv], env, log_dir))
                    if logins:
                        seed = Child("seed_demo", [*manage, "seed_demo", "--run"], env, log_dir,
                                     oneshot=True)  # fmt: skip
                        children.append(seed)
                        if not seed.wait(120) or seed.failed():
                            self.stderr.write(
                                f"The demo runs did not start; see {seed.log}. "
                                "The admin works; start runs from it."
                            )
                    self._announce(port, logins, log_dir)
                    self._report_runs(children, since=started)
                finally:
                    self._stop(children)
        except KeyboardInterrupt:
            self.stdout.write("\nStopped.")

    def _announce(self, port: int, logins: tuple[DemoLogin, ...], log_dir: Path) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"\nClarity Connect is running: http://127.0.0.1:{port}/admin/")
        )
        for login in logins:
            self.stdout.write(f"  {login.role:>10}: {login.username} / {login.password}")
        self.stdout.write(
            f"  Logs: {_shown(log_dir)}/ (web, worker, subscriber, sandboxes, seed_demo, up)"
        )
        self.stdout.write("  Press Ctrl-C to stop everything. Finished runs:\n")

    def _report_runs(self, children: list[Child], *, since: datetime) -> None:
        """One line per finished run until a child dies or Ctrl-C."""
        shown: set[int] = set()
        while True:
            failed = next(
                (c for c in children if not c.oneshot and c.proc.poll() is not None), None
            )
            if failed:
                raise CommandError(
                    f"The {failed.name} process stopped (exit {failed.proc.returncode}); "
                    f"see {_shown(failed.log)}."
                )
            for run in demo_runs_finished(since=since, shown=shown):
                self.stdout.write(_run_line(run))
            close_old_connections()
            time.sleep(1)

    def _stop(self, children: list[Child]) -> None:
        """The subscriber (its position is stored with each batch: it resumes where it
        stopped), the worker (its run must not lose the sandboxes under it), the web
        server, then the sandboxes, which save their state as they stop."""
        self.stdout.write("\nStopping…")
        # Ctrl-C pressed again while stopping must not leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        by_name = {child.name: child for child in children}
        if "subscriber" in by_name:
            by_name["subscriber"].stop(15)
        worker = by_name.get("worker")
        if worker and worker.proc.poll() is None:
            # RQ: the first SIGTERM lets the job in hand finish; a second, more than a
            # second later, kills the work horse and exits.
            worker.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(WORKER_GRACE_SECONDS)
            worker.stop(15)
        for name in ("web", "seed_demo", "sandboxes"):
            if name in by_name:
                by_name[name].stop(30)


def _run_line(run: SyncRun) -> str:
    finished = timezone.localtime(run.finished_at).strftime("%H:%M:%S")
    line = (
        f"  {finished}  {run.flow.pair.name} · {run.flow.name}: {run.get_status_display()} — "
        f"{run.total_count} read, {run.succeeded_count} succeeded, "
        f"{run.skipped_count} skipped, {run.failed_count} failed"
    )
    if run.failed_count or run.status == "failed":
        note = (run.message or "").strip().splitlines()
        line += f" ({note[0][:120]})" if note else " (see the ledger)"
    return line


def _shown(path: Path) -> str:
    """A path as short as the person who typed ./scripts/run expects it."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


def _log_to(path: Path) -> None:
    """This process's own log records go to ``path``, not between the run lines."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
