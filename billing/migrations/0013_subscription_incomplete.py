"""Incomplete subscriptions: the statuses, the first invoice that decides them, and the
django-q2 schedule that expires them."""

import django.db.models.deletion
import django_fsm
from django.db import migrations, models

SCHEDULE = (
    "billing: expire incomplete subscriptions",
    "billing.tasks.subscriptions_incomplete_expire_scheduled",
)


def forward(apps, schema_editor):
    name, func = SCHEDULE
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=name, defaults={"func": func, "schedule_type": "I", "minutes": 10, "repeats": -1}
    )


def backward(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE[0]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_bill_runs_async"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="first_invoice",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                help_text="The invoice made when it was created: a failed automatic charge of "
                "it makes the subscription incomplete.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="billing.invoice",
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="status",
            field=django_fsm.FSMField(
                choices=[
                    ("pending", "Pending (starts later)"),
                    ("incomplete", "Incomplete (first payment failed)"),
                    ("incomplete_expired", "Incomplete, expired (never paid)"),
                    ("trialing", "Trialing"),
                    ("active", "Active"),
                    ("past_due", "Past due"),
                    ("paused", "Paused"),
                    ("suspended", "Suspended"),
                    ("canceled", "Canceled"),
                    ("expired", "Expired"),
                ],
                default="pending",
                max_length=50,
                protected=True,
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
