"""Alert permissions for the roles: consultants and operators manage rules, finance reads alerts."""

from django.db import migrations

from clarity.migrations._roles import roles_granted

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


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0007_retention_alerts"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [roles_granted(ROLES)]
