"""Bind each connection's stored secrets to where it points today; refuse control characters."""

from django.db import migrations, models

import connectors.secrets
import connectors.validators
from connectors.http import origin_of

SECRET_COLUMNS = ("credentials", "access_token", "refresh_token", "token_extra")


def bind_existing_secrets(apps, schema_editor):
    Connection = apps.get_model("connectors", "Connection")
    for row in Connection.objects.all():
        if any(row.__dict__.get(name) for name in SECRET_COLUMNS):
            binding = f"{row.environment} {origin_of(row.base_url)}"
            Connection.objects.filter(pk=row.pk).update(secrets_origin=binding)


class Migration(migrations.Migration):
    dependencies = [("connectors", "0002_connection_token_extra")]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="secrets_origin",
            field=models.CharField(
                blank=True,
                default="",
                editable=False,
                help_text=(
                    "The environment and scheme://host:port the stored secrets were entered for."
                ),
                max_length=400,
            ),
        ),
        migrations.AlterField(
            model_name="connection",
            name="name",
            field=models.CharField(
                max_length=100,
                unique=True,
                validators=[connectors.validators.validate_single_line],
            ),
        ),
        migrations.AlterField(
            model_name="connection",
            name="base_url",
            field=models.CharField(
                help_text="The API's root address, e.g. https://api.xero.com",
                max_length=300,
                validators=[connectors.validators.validate_single_line],
                verbose_name="base URL",
            ),
        ),
        migrations.AlterField(
            model_name="connection",
            name="settings",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Non-secret settings such as client id, tenant id or company id.",
                validators=[connectors.validators.validate_json_text],
            ),
        ),
        migrations.AlterField(
            model_name="connection",
            name="token_extra",
            field=connectors.secrets.EncryptedJSONField(
                blank=True,
                default=dict,
                help_text="What the system returned with its tokens (tenant, instance URL).",
                masked=False,
            ),
        ),
        migrations.RunPython(bind_existing_secrets, migrations.RunPython.noop),
    ]
