"""Matching what already exists (#16): a flow's matching rules, the decisions people take on
records that match several target records or one in part, the ledger's undecided and linked
statuses; records linked by a person before are marked linked, and the Finance role (the
auditors' role) may read the audit trail."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from clarity.migrations._roles import roles_granted

ROLES = {
    "Consultant": [
        "clarity.add_matchingrule",
        "clarity.change_matchingrule",
        "clarity.delete_matchingrule",
        "clarity.view_matchingrule",
        "clarity.view_matchdecision",
    ],
    "Finance": ["clarity.view_auditevent", "clarity.view_matchdecision"],
    "Operator": ["clarity.view_matchingrule", "clarity.view_matchdecision"],
}


def mark_linked(apps, schema_editor):
    """Rows a person linked to an existing target record ended resolved: now linked."""
    SyncRecord = apps.get_model("clarity", "SyncRecord")
    AuditEvent = apps.get_model("clarity", "AuditEvent")
    linked = AuditEvent.objects.filter(action="link").values("record_id")
    SyncRecord.objects.filter(status="resolved", pk__in=linked).exclude(target_id="").update(
        status="linked"
    )


def unmark_linked(apps, schema_editor):
    apps.get_model("clarity", "SyncRecord").objects.filter(status="linked").update(
        status="resolved"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0020_pair_launch"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="ledgerhourlycount",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("succeeded", "Succeeded"),
                    ("skipped", "Skipped"),
                    ("failed", "Failed"),
                    ("resolved", "Resolved"),
                    ("unknown", "Outcome unknown (being checked)"),
                    ("ignored", "Ignored"),
                    ("split", "Split into parts"),
                    ("undecided", "Needs a decision (matches records in the target)"),
                    ("linked", "Linked to the record the target held"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="syncrecord",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("succeeded", "Succeeded"),
                    ("skipped", "Skipped"),
                    ("failed", "Failed"),
                    ("resolved", "Resolved"),
                    ("unknown", "Outcome unknown (being checked)"),
                    ("ignored", "Ignored"),
                    ("split", "Split into parts"),
                    ("undecided", "Needs a decision (matches records in the target)"),
                    ("linked", "Linked to the record the target held"),
                ],
                default="pending",
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="MatchingRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "position",
                    models.PositiveSmallIntegerField(
                        default=0,
                        help_text="Rules are tried from the lowest; the first that finds a match "
                        "wins.",
                    ),
                ),
                (
                    "match_by",
                    models.CharField(
                        choices=[
                            ("reference", "Reference (the target's reference field)"),
                            ("keys", "Keys (every one must agree)"),
                        ],
                        default="keys",
                        max_length=20,
                    ),
                ),
                (
                    "keys",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Fields to compare, comma-separated: 'Name, EmailAddress', or "
                        "'sent field=target field' where they differ ('Email=EmailAddress'). "
                        "Case and spaces are ignored. Blank for a reference rule: the target's "
                        "reference field.",
                        max_length=500,
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                (
                    "flow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="matching_rules",
                        to="clarity.flow",
                    ),
                ),
            ],
            options={
                "ordering": ("flow", "position", "pk"),
            },
        ),
        migrations.CreateModel(
            name="MatchDecision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source_id", models.CharField(max_length=200)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("unique", "One record matches"),
                            ("ambiguous", "Several records match"),
                            ("partial", "Matches in part"),
                            ("none", "No match"),
                        ],
                        max_length=20,
                    ),
                ),
                ("candidates", models.JSONField(blank=True, default=list)),
                (
                    "decision",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "Waiting for a decision"),
                            ("link", "Linked to an existing record"),
                            ("create", "Create new"),
                            ("skip", "Skipped"),
                        ],
                        default="",
                        max_length=20,
                    ),
                ),
                ("target_id", models.CharField(blank=True, default="", max_length=200)),
                ("note", models.TextField(blank=True, default="")),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "flow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="clarity.flow",
                    ),
                ),
                (
                    "record",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="match",
                        to="clarity.syncrecord",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to="clarity.matchingrule",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["flow", "source_id"], name="match_flow_source")],
            },
        ),
        migrations.RunPython(mark_linked, unmark_linked),
        roles_granted(ROLES),
    ]
