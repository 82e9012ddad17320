"""Creates the roles: Consultant, Finance and Operator groups with their permissions."""

from django.db import migrations

ROLES = {
    "Consultant": [
        "connectors.add_connection",
        "connectors.change_connection",
        "connectors.delete_connection",
        "connectors.view_connection",
        "clarity.add_integrationpair",
        "clarity.change_integrationpair",
        "clarity.delete_integrationpair",
        "clarity.view_integrationpair",
        "clarity.add_flow",
        "clarity.change_flow",
        "clarity.delete_flow",
        "clarity.view_flow",
        "clarity.run_flow",
        "clarity.view_syncrun",
        "clarity.view_syncrecord",
    ],
    "Finance": [
        "clarity.view_syncrun",
        "clarity.view_syncrecord",
        "clarity.resolve_syncrecord",
        "clarity.retry_syncrecord",
    ],
    "Operator": [
        "clarity.view_integrationpair",
        "clarity.view_flow",
        "clarity.run_flow",
        "clarity.view_syncrun",
        "clarity.view_syncrecord",
        "clarity.operate_queues",
    ],
}


def ensure_permissions(apps):
    """Permissions are normally made after all migrations; roles need them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def create_roles(apps, schema_editor):
    ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def delete_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0001_initial"),
        ("connectors", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
