from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("clarity", "0019_validate_runs")]

    operations = []
