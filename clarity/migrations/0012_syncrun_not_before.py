from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clarity", "0011_syncrun_expected_total"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="not_before",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
