from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ClarityConfig(AppConfig):
    name = "clarity"
    verbose_name = "Sync"


class ClarityAdminConfig(admin_apps.AdminConfig):
    """The admin app with Clarity Connect's own site: its name, two-factor sign-in, 403 page.

    The apps' ``admin`` modules are imported when the admin is first used — its URLs or
    its checks (``ClarityAdminSite``) — not by every process: a worker or the event
    subscriber never serves the admin, and importing it (import-export, openpyxl and
    every ModelAdmin) was a third of their start, which events wait out on a restart."""

    default = False  # named in INSTALLED_APPS; "clarity" itself stays ClarityConfig
    default_site = "clarity.admin_site.ClarityAdminSite"

    def ready(self) -> None:
        admin_apps.SimpleAdminConfig.ready(self)  # the checks, without autodiscover()
