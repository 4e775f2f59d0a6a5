"""Apply the staff group policy again for service levels and SLA credits."""

from django.db import migrations

from reports.staff_groups import sync_staff_groups_migration


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0006_sync_staff_groups"),
        ("catalog", "0003_service_levels"),
        ("billing", "0011_sla_credits"),
    ]
    operations = [migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop)]
