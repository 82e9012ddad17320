"""Granting the roles (Groups) their permissions from a migration, in one place.

Not a migration itself: Django's loader skips modules whose names start with "_".
Each migration keeps its own ``ROLES`` (what that step grants, frozen with it) and
runs ``roles_granted(ROLES)``.
"""

from collections.abc import Callable
from typing import Any

from django.db import migrations

Roles = dict[str, list[str]]


def _ensure_permissions(apps: Any) -> None:
    """Permissions are normally made after all migrations; roles need them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def _grant(roles: Roles) -> Callable[[Any, Any], None]:
    def grant(apps: Any, schema_editor: Any) -> None:
        _ensure_permissions(apps)
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for role, codes in roles.items():
            group, _ = Group.objects.get_or_create(name=role)
            for code in codes:
                app_label, codename = code.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )

    return grant


def _revoke(roles: Roles) -> Callable[[Any, Any], None]:
    def revoke(apps: Any, schema_editor: Any) -> None:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for role, codes in roles.items():
            group = Group.objects.filter(name=role).first()
            if group is None:
                continue
            for code in codes:
                app_label, codename = code.split(".")
                group.permissions.remove(
                    *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
                )

    return revoke


def roles_granted(roles: Roles) -> migrations.RunPython:
    """The operation giving each role its permissions (taken back when reversed)."""
    return migrations.RunPython(_grant(roles), _revoke(roles))
