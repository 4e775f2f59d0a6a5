"""Apply the staff group policy again for usage events, aggregates and alerts."""

from django.db import migrations

from reports.staff_groups import sync_staff_groups_migration


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_sync_staff_groups"),
        ("billing", "0007_usage"),
    ]
    operations = [migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop)]
