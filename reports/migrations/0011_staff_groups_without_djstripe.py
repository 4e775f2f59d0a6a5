"""Apply the staff group policy again: dj-stripe's models are for superusers only now, so the
groups lose their view permissions on them (reports/staff_groups.py); the new models of
notices, one-off invoices and account suspension get theirs."""

from django.db import migrations

from reports.staff_groups import sync_staff_groups_migration


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0010_accounts_and_staff_groups"),
        ("customers", "0004_notices"),
        ("billing", "0017_notices_cursor_and_schedules"),
        ("provisioning", "0005_access_suspend_reason"),
    ]
    operations = [migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop)]
