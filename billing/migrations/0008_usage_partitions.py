"""The daily django-q2 schedule that creates the usage events' month partitions ahead of
time, and the partitions around now (PostgreSQL; nothing to do on SQLite)."""

from django.db import migrations
from django.utils import timezone

SCHEDULE = ("billing: usage partitions", "billing.tasks.usage_partitions_scheduled", "D")


def schedule_create(apps, schema_editor):
    name, func, kind = SCHEDULE
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=name, defaults={"func": func, "schedule_type": kind, "repeats": -1}
    )


def schedule_delete(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE[0]).delete()


def partitions_create(apps, schema_editor):
    # Raw SQL only (no model state involved), so calling the service is safe here.
    from billing.usage.storage import usage_partitions_ensure

    usage_partitions_ensure(at=timezone.now(), using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_usage"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [
        migrations.RunPython(schedule_create, schedule_delete),
        migrations.RunPython(partitions_create, migrations.RunPython.noop),
    ]
