from django.core.management.base import BaseCommand, CommandError

from connectors.secrets import SecretUnreadable, keyring
from connectors.services import secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the newest key in CLARITY_ENCRYPTION_KEYS."

    def handle(self, *args: object, **options: object) -> None:
        try:
            changed = secrets_rotate()
        except SecretUnreadable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Re-encrypted {changed} row(s) under key '{keyring().current_id}'.")
