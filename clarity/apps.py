from django.apps import AppConfig


class ClarityConfig(AppConfig):
    name = "clarity"
    verbose_name = "Sync"
