import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from requests import ConnectionError as HTTPConnectionError

from clarity.services.demo import demo_load, demo_start


class Command(BaseCommand):
    help = "Load the demo users, sandbox connections, pairs and flows (safe to run twice)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--run", action="store_true", help="connect Xero and run each mapped flow once"
        )

    def handle(self, *args: object, run: bool, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("Demo data has well-known passwords; load it only with DEBUG on.")
        for login in demo_load():
            self.stdout.write(f"{login.role:>10}: {login.username} / {login.password}")
        if not run:
            return
        for _ in range(40):  # the sandboxes may still be starting
            try:
                runs = demo_start()
                break
            except HTTPConnectionError:
                time.sleep(0.5)
        else:
            raise CommandError("The sandboxes did not answer; is `manage.py sandbox` running?")
        self.stdout.write(f"Started {len(runs)} demo run(s): see Sync > Sync runs in the admin.")
