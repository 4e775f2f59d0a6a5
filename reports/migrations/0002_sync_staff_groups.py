"""Apply the staff group policy again, now that billing has subscriptions, invoices, bill
runs and number sequences: their permissions join the groups (finance adds and changes them,
everyone views them). Permissions are created first, as in 0001."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from reports.staff_groups import sync_staff_groups


def sync_groups(apps, schema_editor):
    using = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        # Historical app configs have no models module, which create_permissions requires.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    sync_staff_groups(apps, using=using)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_staff_groups"),
        ("billing", "0004_schedules"),
    ]
    operations = [migrations.RunPython(sync_groups, migrations.RunPython.noop)]
