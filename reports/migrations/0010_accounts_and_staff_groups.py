"""The ledger's accounts with the contract's default codes, the reports' event sweep, and
the staff group policy applied again for the revenue and ledger models (finance adds and
changes them)."""

from django.db import migrations

from reports.ledger.entries import DEFAULT_ACCOUNTS
from reports.staff_groups import sync_staff_groups_migration


def accounts_create(apps, schema_editor):
    account = apps.get_model("reports", "LedgerAccount")
    for role, code in DEFAULT_ACCOUNTS.items():
        account.objects.get_or_create(
            role=role, defaults={"code": code, "name": role.replace("_", " ").capitalize()}
        )


SWEEP = "reports: billing events"


def sweep_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SWEEP,
        defaults={
            "func": "reports.tasks.reports_events_consume_task",
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
        },
    )


def sweep_unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SWEEP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0009_revenue_ledger"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [
        migrations.RunPython(sweep_schedule, sweep_unschedule),
        migrations.RunPython(accounts_create, migrations.RunPython.noop),
        migrations.RunPython(sync_staff_groups_migration, migrations.RunPython.noop),
    ]
