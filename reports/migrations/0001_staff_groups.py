"""Staff groups finance, operations, support and read-only (policy in reports.staff_groups).

Permissions are normally made after `migrate` (post_migrate), too late for this migration,
so they are created here first for every app of the historical registry.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from reports.staff_groups import sync_staff_groups


def create_staff_groups(apps, schema_editor):
    using = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        # Historical app configs have no models module, which create_permissions requires.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    sync_staff_groups(apps, using=using)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("api", "0001_initial"),
        ("catalog", "0001_initial"),
        ("customers", "0001_initial"),
        ("billing", "0002_billing_event_append_only"),
        ("djstripe", "0003_2_11"),
    ]
    operations = [migrations.RunPython(create_staff_groups, migrations.RunPython.noop)]
