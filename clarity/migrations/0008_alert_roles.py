"""Alert permissions for the roles: consultants and operators manage rules, finance reads alerts."""

from django.db import migrations

ROLES = {
    "Consultant": [
        "clarity.add_alertrule",
        "clarity.change_alertrule",
        "clarity.delete_alertrule",
        "clarity.view_alertrule",
        "clarity.view_alert",
    ],
    "Operator": [
        "clarity.add_alertrule",
        "clarity.change_alertrule",
        "clarity.delete_alertrule",
        "clarity.view_alertrule",
        "clarity.view_alert",
    ],
    "Finance": [
        "clarity.view_alert",
    ],
}


def ensure_permissions(apps):
    """Permissions are normally made after all migrations; roles need them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def grant(apps, schema_editor):
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


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codes in ROLES.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for code in codes:
            app_label, codename = code.split(".")
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0007_retention_alerts"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
