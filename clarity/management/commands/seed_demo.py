from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from clarity.services.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo users, sandbox connections, pairs and flows (safe to run twice)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("Demo data has well-known passwords; load it only with DEBUG on.")
        for login in demo_load():
            self.stdout.write(f"{login.role:>10}: {login.username} / {login.password}")
