"""The built-in gateways, the default dunning campaign and the payment schedules."""

from django.db import migrations

from billing.payments.defaults import payment_defaults_ensure

SCHEDULES = [
    # name, func, type ("I" minutes, "H" hourly, "D" daily), minutes
    ("billing: resolve unknown payments", "billing.tasks.payments_resolve_scheduled", "I", 5),
    ("billing: dunning", "billing.tasks.dunning_run_scheduled", "I", 15),
    ("billing: expiring cards", "billing.tasks.payment_methods_expiring_scheduled", "D", None),
]


def forward(apps, schema_editor):
    payment_defaults_ensure(apps)
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
        ("billing", "0009_payments_dunning"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(forward, backward)]
