"""Targeted runs (a run reads only the records events named), flows' event filters and
adaptive polling, and the neutral change kept with each stored event."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0014_flow_read_mode_source_hash"),
    ]

    operations = [
        migrations.AddField(
            model_name="flow",
            name="event_filter",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text=(
                    "Which events run this flow; empty: every event of its entity. A list of "
                    'rules, any of which may match, e.g. [{"entity": "Opportunity", '
                    '"change_types": ["CREATE", "UPDATE"], "field": "StageName", "equals": '
                    '"Closed Won"}]: an Opportunity created or updated whose StageName became '
                    "Closed Won. An event that carries no values (a gap or overflow event) "
                    "still reads the records it names."
                ),
            ),
        ),
        migrations.AddField(
            model_name="flow",
            name="poll_adaptive",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Poll every few seconds while changes keep coming and less often while the "
                    "source is idle, between the shortest and longest interval below (instead "
                    "of a cron schedule). For sources that send no events."
                ),
                verbose_name="poll adaptively",
            ),
        ),
        migrations.AddField(
            model_name="flow",
            name="poll_interval_seconds",
            field=models.PositiveIntegerField(
                blank=True,
                editable=False,
                help_text="The adaptive poll's current interval.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="flow",
            name="poll_max_seconds",
            field=models.PositiveIntegerField(
                default=300,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(86400),
                ],
                verbose_name="longest poll interval (s)",
            ),
        ),
        migrations.AddField(
            model_name="flow",
            name="poll_min_seconds",
            field=models.PositiveIntegerField(
                default=5,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(86400),
                ],
                verbose_name="shortest poll interval (s)",
            ),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="target_field",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.AddField(
            model_name="syncrun",
            name="target_ids",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookevent",
            name="change",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="flow",
            name="trigger_webhook",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Run when the source system reports a change: a webhook, an event stream "
                    "or a doorbell call. Only the records the event names are read when it "
                    "names them."
                ),
                verbose_name="run on events",
            ),
        ),
    ]
