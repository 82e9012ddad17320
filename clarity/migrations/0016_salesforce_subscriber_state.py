import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0015_targeted_runs_event_filters_adaptive_polling"),
        ("connectors", "0003_connection_secrets_origin"),
    ]

    operations = [
        migrations.CreateModel(
            name="SubscriberState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("connected", "Connected"),
                            ("reconnecting", "Reconnecting"),
                            ("stopped", "Stopped"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "message",
                    models.TextField(blank=True, default="", help_text="Why, in plain words."),
                ),
                (
                    "last_event_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the last event (not a keepalive) was stored.",
                        null=True,
                    ),
                ),
                (
                    "position_lost_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When a stored position was last found past Salesforce's "
                        "retention (a full poll of the affected flows was queued).",
                        null=True,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "connection",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="connectors.connection",
                    ),
                ),
            ],
            options={"verbose_name": "event subscriber state"},
        ),
        migrations.CreateModel(
            name="SubscriberPosition",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "topic",
                    models.CharField(help_text="e.g. /data/OpportunityChangeEvent", max_length=200),
                ),
                (
                    "replay_id",
                    models.BinaryField(help_text="Resume after this event.", max_length=64),
                ),
                (
                    "latest_replay_id",
                    models.BinaryField(
                        blank=True,
                        default=b"",
                        help_text="The stream's tip when last heard.",
                        max_length=64,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "connection",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="connectors.connection",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("connection", "topic"), name="subscriber_position_per_topic"
                    )
                ],
            },
        ),
    ]
