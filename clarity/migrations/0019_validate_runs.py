from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("clarity", "0018_alert_rule_events_not_flowing")]

    operations = []
