"""The daily deletion of old webhook deliveries and drift audit runs."""

from django.db import migrations

NAME = "provisioning: prune history"


def forward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={
            "func": "provisioning.tasks_webhooks.provisioning_history_prune_task",
            "schedule_type": "D",
            "repeats": -1,
        },
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("provisioning", "0002_schedules")]
    operations = [migrations.RunPython(forward, backward)]
