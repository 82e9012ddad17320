"""Flows choose how a run finds what to send (changes, or a full scan that compares each
record's content hash with the one last seen, kept in SourceHash) and may name the
source column that marks a change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0013_error_codes_one_style"),
    ]

    operations = [
        migrations.AddField(
            model_name="flow",
            name="change_field",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Source column that marks a change, for systems that let a flow "
                "choose one (e.g. a date such as DateLastSale). Blank: the system's own marker "
                "(a row version, a modified date).",
                max_length=100,
            ),
        ),
        migrations.AddField(
            model_name="flow",
            name="read_mode",
            field=models.CharField(
                blank=True,
                choices=[
                    ("changes", "Changes since the last run"),
                    (
                        "full_scan",
                        "Full scan: read every record, send the ones whose content changed",
                    ),
                ],
                default="changes",
                help_text="How a run finds what to send. A full scan is for records the source "
                "marks no change on: every record is read and compared with what was last sent.",
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="SourceHash",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source_id", models.CharField(max_length=200)),
                ("content_hash", models.CharField(max_length=64)),
                ("revision", models.PositiveIntegerField(default=1)),
                ("seen_at", models.DateTimeField(auto_now=True)),
                (
                    "flow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="source_hashes",
                        to="clarity.flow",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("flow", "source_id"), name="source_hash_one_per_record"
                    )
                ],
            },
        ),
    ]
