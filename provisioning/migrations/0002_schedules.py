"""The provisioning schedules: the billing event sweep, the order runner, deprovisioning,
expiring overrides, outbound webhooks and the drift audit."""

from django.db import migrations

SCHEDULES = [
    # name, func, type ("I" minutes), minutes
    ("provisioning: billing events", "provisioning.tasks.billing_events_consume_task", "I", 1),
    ("provisioning: run orders", "provisioning.tasks.orders_run_due_task", "I", 1),
    ("provisioning: deprovision due", "provisioning.tasks.deprovision_due_task", "I", 1),
    ("provisioning: expire overrides", "provisioning.tasks.overrides_expire_task", "I", 1),
    ("provisioning: webhooks fan-out", "provisioning.tasks_webhooks.webhooks_fan_out_task", "I", 1),
    ("provisioning: webhooks deliver", "provisioning.tasks_webhooks.webhooks_deliver_due_task", "I", 1),
    ("provisioning: drift audit", "provisioning.tasks_webhooks.drift_audit_task", "I", 60),
]


def forward(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    for name, func, kind, minutes in SCHEDULES:
        schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": kind, "minutes": minutes, "repeats": -1},
        )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(
        name__in=[name for name, *_ in SCHEDULES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(forward, backward)]
