"""``manage.py up``: the whole product on one machine, stopped together with Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError

from clarity.localservers import any_redis
from clarity.services.demo import demo_load


class Command(BaseCommand):
    help = "Migrate, load demo data and run Redis, the sandboxes, an RQ worker and the web server."

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
        call_command("migrate", interactive=False, verbosity=0)
        logins = () if no_demo else demo_load()
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        with (
            tempfile.TemporaryDirectory(prefix="clarity-up-") as tmp,
            any_redis(Path(tmp)) as redis_url,
        ):
            env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
            commands = [
                [*manage, "syncworker", "--with-scheduler"],
                [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            ]
            if "sandbox" in get_commands():
                commands.insert(0, [*manage, "sandbox"])
            procs = [subprocess.Popen(cmd, env=env) for cmd in commands]
            try:
                time.sleep(2)
                if logins:
                    subprocess.run([*manage, "seed_demo", "--run"], env=env, check=False)
                self._announce(port, redis_url, logins)
                while any(p.poll() is None for p in procs):
                    failed = [p for p in procs if p.poll()]
                    if failed:
                        name = " ".join(failed[0].args[2:4])
                        raise CommandError(f"{name} stopped (exit {failed[0].returncode}).")
                    time.sleep(0.5)
            except KeyboardInterrupt:
                self.stdout.write("\nStopping…")
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(10)
                    if proc.poll() is None:
                        proc.kill()

    def _announce(self, port: int, redis_url: str, logins: tuple) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"\nClarity Connect is running: http://127.0.0.1:{port}/admin/")
        )
        for login in logins:
            self.stdout.write(f"  {login.role:>10}: {login.username} / {login.password}")
        self.stdout.write(f"  Redis: {redis_url}   Press Ctrl-C to stop everything.\n")
