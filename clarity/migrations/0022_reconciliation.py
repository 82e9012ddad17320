from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("clarity", "0021_matching_rules")]

    operations = []
