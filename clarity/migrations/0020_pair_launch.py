"""Launch (issue 16): a pair records who launched it and when; until then a production
pair's flows can only validate. Pairs that exist already are running, so they are marked
launched now (by nobody: the migration). Consultants may launch; a flow can say it runs
by hand only on purpose (the go-live checklist's schedule item)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from clarity.migrations._roles import roles_granted

ROLES = {"Consultant": ["clarity.launch_pair"]}


def mark_existing_launched(apps, schema_editor):
    IntegrationPair = apps.get_model("clarity", "IntegrationPair")
    IntegrationPair.objects.filter(launched_at__isnull=True).update(launched_at=timezone.now())


def unmark_existing_launched(apps, schema_editor):
    """Only the migration's marks (launched by nobody); a person's launch is kept."""
    IntegrationPair = apps.get_model("clarity", "IntegrationPair")
    IntegrationPair.objects.filter(launched_by__isnull=True).update(launched_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0019_validate_runs"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="integrationpair",
            options={
                "ordering": ("name",),
                "permissions": [("launch_pair", "Can launch a pair (go live)")],
            },
        ),
        migrations.AddField(
            model_name="flow",
            name="manual_only",
            field=models.BooleanField(
                default=False,
                help_text="Tick when this flow is meant to run only when someone starts it: "
                "the pair's go-live checklist then accepts it without a schedule or events.",
                verbose_name="manual runs only, on purpose",
            ),
        ),
        migrations.AddField(
            model_name="integrationpair",
            name="launched_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="When the pair went live (Launch); until then a production pair's "
                "flows can only validate.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="integrationpair",
            name="launched_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(mark_existing_launched, unmark_existing_launched),
        roles_granted(ROLES),
    ]
