from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ClarityConfig(AppConfig):
    name = "clarity"
    verbose_name = "Sync"


class ClarityAdminConfig(admin_apps.AdminConfig):
    """The admin app with Clarity Connect's own site: its name, two-factor sign-in, 403 page."""

    default = False  # named in INSTALLED_APPS; "clarity" itself stays ClarityConfig
    default_site = "clarity.admin_site.ClarityAdminSite"
