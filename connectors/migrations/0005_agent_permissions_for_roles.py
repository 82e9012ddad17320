"""Consultants set up and revoke on-premises agents; operators see them and may revoke one."""

from django.db import migrations

GRANTS = {
    "Consultant": ["add_agent", "change_agent", "delete_agent", "view_agent"],
    "Operator": ["change_agent", "view_agent"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after all migrations; the grants need them now.
    config = apps.get_app_config("connectors")
    config.models_module = True
    create_permissions(config, verbosity=0, apps=apps)
    config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="connectors", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    codenames = {c for codes in GRANTS.values() for c in codes}
    for group in apps.get_model("auth", "Group").objects.filter(name__in=GRANTS):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="connectors", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0004_on_premises_agents"),
        ("clarity", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
