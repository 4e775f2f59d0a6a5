"""Apply the staff group policy again for payments, gateways, bank transfers and dunning."""

from django.db import migrations

from reports.staff_groups import sync_staff_groups_migration


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0004_sync_staff_groups"),
        ("billing", "0010_payments_seed"),
    ]
    operations = [migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop)]
