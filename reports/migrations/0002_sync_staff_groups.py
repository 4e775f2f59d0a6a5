"""Apply the staff group policy again, now that billing has subscriptions, invoices, bill
runs and number sequences: their permissions join the groups (finance adds and changes them,
everyone views them)."""

from django.db import migrations

from reports.staff_groups import sync_staff_groups_migration


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_staff_groups"),
        ("billing", "0004_schedules"),
    ]
    operations = [migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop)]
