"""Validate runs and their reports; the roles' permissions for them: consultants and operators
start validate runs, and everyone who reads the ledger reads the reports."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from clarity.migrations._roles import roles_granted

ROLES = {
    "Consultant": [
        "clarity.validate_flow",
        "clarity.view_validaterun",
        "clarity.view_validaterecord",
    ],
    "Operator": [
        "clarity.validate_flow",
        "clarity.view_validaterun",
        "clarity.view_validaterecord",
    ],
    "Finance": ["clarity.view_validaterun", "clarity.view_validaterecord"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0018_alert_rule_events_not_flowing"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ValidateRun",
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
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("succeeded", "Finished"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=20,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("total_count", models.PositiveIntegerField(default=0)),
                ("would_create_count", models.PositiveIntegerField(default=0)),
                ("would_update_count", models.PositiveIntegerField(default=0)),
                ("unchanged_count", models.PositiveIntegerField(default=0)),
                ("would_skip_count", models.PositiveIntegerField(default=0)),
                ("would_fail_count", models.PositiveIntegerField(default=0)),
                ("new_count", models.PositiveIntegerField(default=0)),
                ("fixed_count", models.PositiveIntegerField(default=0)),
                ("gone_count", models.PositiveIntegerField(default=0)),
                (
                    "message",
                    models.TextField(
                        blank=True, default="", help_text="Why the run itself failed, if it did."
                    ),
                ),
                ("mapping_version", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "flow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="validate_runs",
                        to="clarity.flow",
                    ),
                ),
                (
                    "previous",
                    models.ForeignKey(
                        blank=True,
                        help_text="The flow's previous validate run, compared with this one.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="clarity.validaterun",
                    ),
                ),
                (
                    "started_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ("-id",),
                "permissions": [("validate_flow", "Can start a validate run")],
            },
        ),
        migrations.CreateModel(
            name="ValidateRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source_id", models.CharField(max_length=200)),
                ("part", models.PositiveSmallIntegerField(default=0)),
                ("business_key", models.CharField(blank=True, default="", max_length=200)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("would_create", "Would create"),
                            ("would_update", "Would update"),
                            ("unchanged", "Unchanged"),
                            ("would_skip", "Would skip"),
                            ("would_fail", "Would fail"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "target_id",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="The twin in the target, if found.",
                        max_length=200,
                    ),
                ),
                ("differences", models.JSONField(blank=True, default=dict)),
                ("error_kind", models.CharField(blank=True, default="", max_length=20)),
                ("error_code", models.CharField(blank=True, default="", max_length=100)),
                ("message", models.TextField(blank=True, default="")),
                ("transformed_payload", models.JSONField(blank=True, null=True)),
                (
                    "since_previous",
                    models.CharField(
                        choices=[
                            ("new", "New since the previous run"),
                            ("changed", "Outcome changed"),
                            ("same", "Same as the previous run"),
                            ("fixed", "Fixed"),
                            ("first", "First run"),
                        ],
                        default="first",
                        max_length=20,
                    ),
                ),
                ("acknowledged_note", models.TextField(blank=True, default="")),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="records",
                        to="clarity.validaterun",
                    ),
                ),
            ],
            options={
                "verbose_name": "validate record",
                "ordering": ("id",),
            },
        ),
        migrations.AddIndex(
            model_name="validaterun",
            index=models.Index(fields=["flow", "-id"], name="validate_run_flow_recent"),
        ),
        migrations.AddIndex(
            model_name="validaterecord",
            index=models.Index(fields=["run", "outcome", "id"], name="validate_rec_outcome"),
        ),
        migrations.AddIndex(
            model_name="validaterecord",
            index=models.Index(fields=["run", "source_id"], name="validate_rec_source"),
        ),
        migrations.AddIndex(
            model_name="validaterecord",
            index=models.Index(fields=["run", "error_code"], name="validate_rec_code"),
        ),
        migrations.AddIndex(
            model_name="validaterecord",
            index=models.Index(fields=["run", "since_previous"], name="validate_rec_since"),
        ),
        roles_granted(ROLES),
    ]
