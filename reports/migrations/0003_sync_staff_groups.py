"""Apply the staff group policy again for credit notes, balances, coupons and add-ons."""

from django.db import migrations

from reports.staff_groups import sync_staff_groups_migration


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0002_sync_staff_groups"),
        ("billing", "0006_subscription_addons"),
    ]
    operations = [migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop)]
