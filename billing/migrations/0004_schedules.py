"""django-q2 schedules: the hourly bill run and the finalization of drafts past their grace."""

from django.db import migrations

SCHEDULES = [
    ("billing: bill run", "billing.tasks.bill_run_scheduled", "H"),
    ("billing: finalize drafts", "billing.tasks.drafts_finalize_scheduled", "I"),
]


def forward(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    for name, func, kind in SCHEDULES:
        schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": kind, "minutes": 10, "repeats": -1}
        )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(
        name__in=[name for name, _, _ in SCHEDULES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_billrun_invoice_invoicenumbersequence_subscription_and_more"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(forward, backward)]
