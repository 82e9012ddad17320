from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0017_alert_rule_agent_offline"),
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
                        "Salesforce change events are not flowing (subscriber stopped, silent "
                        "or behind retention)",
                    ),
                ],
                max_length=30,
            ),
        ),
    ]
