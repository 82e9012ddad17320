from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Print a new key for CLARITY_ENCRYPTION_KEYS (put it first, keep the old ones after it)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("key_id", nargs="?", default="k1", help="a short name for the key")

    def handle(self, *args: object, key_id: str, **options: object) -> None:
        self.stdout.write(f"{key_id}={Fernet.generate_key().decode()}")
