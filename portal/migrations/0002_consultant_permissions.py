"""Gives the Consultant role the portal clients and their orders; Finance gets none."""

from django.db import migrations

CONSULTANT = [
    *(f"portal.{action}_portalclient" for action in ("add", "change", "delete", "view")),
    "portal.view_portaltoken",
    "portal.change_portaltoken",  # revoking a token is a change
    "portal.view_portalorder",
]


def ensure_permissions(apps):
    """Permissions are normally made after all migrations; the role needs them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def grant(apps, schema_editor):
    ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Consultant")
    for code in CONSULTANT:
        app_label, codename = code.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    codenames = [code.split(".")[1] for code in CONSULTANT]
    for group in Group.objects.filter(name="Consultant"):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="portal", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("clarity", "0002_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
