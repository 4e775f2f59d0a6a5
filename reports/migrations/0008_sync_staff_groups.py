"""Apply the staff group policy again for the tax models (settings, registrations, rate
overrides) and the "customer VAT numbers" page."""

from django.db import migrations

from reports.staff_groups import sync_staff_groups_migration


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0007_sync_staff_groups"),
        ("billing", "0015_customer_vat_proxy"),
    ]
    operations = [migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop)]
