"""The built-in gateways, the default dunning campaign and the payment schedules."""

from django.db import migrations

GATEWAYS = [
    # code, name, adapter, vault, priority, method kinds
    ("sandbox", "Sandbox", "sandbox", "sandbox", 10, ["card", "us_bank_account", "sepa_debit"]),
    ("stripe", "Stripe", "stripe", "stripe", 20, ["card", "us_bank_account", "sepa_debit"]),
    ("bank_transfer", "Bank transfer", "bank_transfer", "bank_transfer", 90, ["bank_transfer"]),
]

SCHEDULES = [
    # name, func, type ("I" minutes, "H" hourly, "D" daily), minutes
    ("billing: resolve unknown payments", "billing.tasks.payments_resolve_scheduled", "I", 5),
    ("billing: dunning", "billing.tasks.dunning_run_scheduled", "I", 15),
    ("billing: expiring cards", "billing.tasks.payment_methods_expiring_scheduled", "D", None),
]


def forward(apps, schema_editor):
    gateway = apps.get_model("billing", "Gateway")
    for code, name, adapter, vault, priority, kinds in GATEWAYS:
        gateway.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "adapter": adapter,
                "vault": vault,
                "priority": priority,
                "method_kinds": kinds,
            },
        )
    apps.get_model("billing", "DunningCampaign").objects.get_or_create(
        code="default",
        defaults={
            "name": "Default: retry on days 1, 3, 5 and 7, then suspend",
            "is_default": True,
            "retry_days": [1, 3, 5, 7],
            "reminder_days_before_due": [3],
            "reminder_days_after_due": [1, 7],
            "final_action": "suspend",
            "final_action_after_days": 0,
        },
    )
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
