from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("clarity", "0020_pair_launch")]

    operations = []
