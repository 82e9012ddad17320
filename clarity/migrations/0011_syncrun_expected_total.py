from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0010_ledger_split_parts"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="expected_total",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
