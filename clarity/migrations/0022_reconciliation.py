"""Reconciliation runs, findings, per-flow settings and per-pair nightly schedules; the
"reconciliation mismatch" alert kind; the roles' permissions: consultants set reconciliation
up, everyone who reads the ledger reads the findings and may start a run, and finance and
consultants acknowledge findings."""

import datetime

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from clarity.migrations._roles import roles_granted


VIEW = ["clarity.view_reconciliationrun", "clarity.view_reconciliationfinding"]
ROLES = {
    "Consultant": [
        *VIEW,
        "clarity.run_reconciliation",
        "clarity.acknowledge_reconciliationfinding",
        "clarity.add_reconciliationsetting",
        "clarity.change_reconciliationsetting",
        "clarity.view_reconciliationsetting",
        "clarity.add_reconciliationschedule",
        "clarity.change_reconciliationschedule",
        "clarity.view_reconciliationschedule",
    ],
    "Operator": [
        *VIEW,
        "clarity.run_reconciliation",
        "clarity.view_reconciliationsetting",
        "clarity.view_reconciliationschedule",
    ],
    "Finance": [*VIEW, "clarity.run_reconciliation", "clarity.acknowledge_reconciliationfinding"],
}


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0021_matching_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertrule",
            name="kind",
            field=models.CharField(
                choices=[
                    ("failures_over", "More than N failures in M minutes"),
                    ("schedule_missed", "A scheduled flow has not run"),
                    ("auth_failure", "A login was refused (flow paused)"),
                    ("allowance_low", "Daily API allowance nearly spent"),
                    ("agent_offline", "An on-premises agent is offline"),
                    (
                        "events_not_flowing",
                        "Salesforce change events are not flowing (subscriber stopped, silent or behind retention)",
                    ),
                    (
                        "reconciliation_mismatch",
                        "Reconciliation found mismatches not yet acknowledged",
                    ),
                ],
                max_length=30,
            ),
        ),
        migrations.CreateModel(
            name="ReconciliationRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "trigger",
                    models.CharField(
                        choices=[("nightly", "Nightly"), ("on_demand", "On demand")], max_length=20
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("agreed", "Both systems agree"),
                            ("mismatched", "Mismatches found"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=20,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("source_records", models.PositiveIntegerField(default=0)),
                ("target_records", models.PositiveIntegerField(default=0)),
                ("twins_compared", models.PositiveIntegerField(default=0)),
                ("findings_count", models.PositiveIntegerField(default=0)),
                ("message", models.TextField(blank=True, default="")),
                (
                    "pair",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reconciliation_runs",
                        to="clarity.integrationpair",
                    ),
                ),
                (
                    "requested_by",
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
                "permissions": [
                    ("run_reconciliation", "Can start a reconciliation"),
                    (
                        "acknowledge_reconciliationfinding",
                        "Can acknowledge reconciliation findings",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ReconciliationFinding",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("count_mismatch", "Count differs in a period"),
                            ("total_mismatch", "Total differs in a period"),
                            ("missing_in_target", "Missing in the target"),
                            ("missing_in_source", "Missing in the source"),
                            ("drift", "Fields differ (drift)"),
                        ],
                        max_length=30,
                    ),
                ),
                ("period", models.CharField(blank=True, default="", max_length=10)),
                ("source_value", models.CharField(blank=True, default="", max_length=100)),
                ("target_value", models.CharField(blank=True, default="", max_length=100)),
                ("source_id", models.CharField(blank=True, default="", max_length=200)),
                ("target_id", models.CharField(blank=True, default="", max_length=200)),
                ("business_key", models.CharField(blank=True, default="", max_length=200)),
                (
                    "field_diff",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text='[{"field", "source", "target"}]: what differs.',
                    ),
                ),
                ("message", models.TextField(blank=True, default="")),
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
                    "flow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="clarity.flow",
                    ),
                ),
                (
                    "record",
                    models.ForeignKey(
                        blank=True,
                        help_text="The ledger record linking the two, where the sync keeps one.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="clarity.syncrecord",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="findings",
                        to="clarity.reconciliationrun",
                    ),
                ),
            ],
            options={
                "verbose_name": "reconciliation finding",
                "ordering": ("id",),
            },
        ),
        migrations.CreateModel(
            name="ReconciliationSchedule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("enabled", models.BooleanField(default=True, verbose_name="reconcile nightly")),
                ("at", models.TimeField(default=datetime.time(2, 0), verbose_name="start at")),
                (
                    "job_id",
                    models.CharField(blank=True, default="", editable=False, max_length=100),
                ),
                (
                    "pair",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reconciliation_schedule",
                        to="clarity.integrationpair",
                    ),
                ),
            ],
            options={
                "verbose_name": "reconciliation schedule",
            },
        ),
        migrations.CreateModel(
            name="ReconciliationSetting",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                (
                    "source_amount_field",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Source field summed per period, e.g. SorDetail[].MOrderQty*SorDetail[].MPrice. Blank: counts only.",
                        max_length=200,
                    ),
                ),
                (
                    "target_amount_field",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Target field summed, e.g. SubTotal.",
                        max_length=200,
                    ),
                ),
                (
                    "source_date_field",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Source date placing a record in its period, e.g. OrderDate. Blank: no per-period figures, only the records compared.",
                        max_length=200,
                    ),
                ),
                (
                    "target_date_field",
                    models.CharField(
                        blank=True, default="", help_text="Target date, e.g. Date.", max_length=200
                    ),
                ),
                (
                    "period",
                    models.CharField(
                        choices=[("day", "Day"), ("month", "Month")], default="month", max_length=10
                    ),
                ),
                (
                    "target_scope",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Only the target records of this flow, e.g. Type=ACCREC (Xero "
                        "keeps bills among its Invoices). Field=value pairs, comma-separated; "
                        "blank: every record.",
                        max_length=200,
                    ),
                ),
                (
                    "ignore_fields",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Target fields that may differ on purpose, comma-separated (e.g. Status: Xero marks an invoice PAID once it is paid). They are not reported as drift.",
                        max_length=500,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "flow",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reconciliation",
                        to="clarity.flow",
                    ),
                ),
            ],
            options={
                "verbose_name": "reconciliation setting",
            },
        ),
        migrations.AddIndex(
            model_name="reconciliationrun",
            index=models.Index(fields=["pair", "-id"], name="recon_run_pair_recent"),
        ),
        migrations.AddIndex(
            model_name="reconciliationfinding",
            index=models.Index(fields=["run", "kind", "id"], name="recon_finding_run_kind"),
        ),
        migrations.AddIndex(
            model_name="reconciliationfinding",
            index=models.Index(
                condition=models.Q(("acknowledged_at__isnull", True)),
                fields=["run", "id"],
                name="recon_finding_unacknowledged",
            ),
        ),
        roles_granted(ROLES),
    ]
