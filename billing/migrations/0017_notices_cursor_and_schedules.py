"""Customer notices (billing/notices): the consumer's cursor, made at the end of the billing
event log so that an upgrade mails nothing about what happened before, and its django-q2
schedules: the sweep of the event log and the hourly trial ending / yearly renewal scan."""

from django.db import migrations, models

SCHEDULES = [
    # name, func, schedule type, minutes
    ("billing: customer notices (event sweep)", "billing.notices.tasks.notices_events_consume_task", "I", 5),
    ("billing: customer notices (trials, renewals)", "billing.notices.tasks.notices_scheduled_send_task", "H", None),
]


def forward(apps, schema_editor):
    last = apps.get_model("billing", "BillingEvent").objects.order_by("-pk").first()
    apps.get_model("billing", "NoticeEventCursor").objects.get_or_create(
        consumer="notices", defaults={"last_event_id": last.pk if last else 0}
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
        ("billing", "0016_invoice_scheduled_issue_at"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.CreateModel(
            name="NoticeEventCursor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("consumer", models.CharField(max_length=50, unique=True)),
                ("last_event_id", models.BigIntegerField(default=0)),
                ("pending_ids", models.JSONField(blank=True, default=list)),
                ("failed", models.JSONField(blank=True, default=list, help_text="Events whose notice failed: {id, error}.")),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name": "notice event cursor"},
        ),
        migrations.RunPython(forward, backward),
    ]
