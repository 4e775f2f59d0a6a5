"""One-off invoices issued on a chosen date: the draft's `scheduled_issue_at`, and the
django-q2 schedule that finalizes the drafts whose time has come."""

from django.db import migrations, models

SCHEDULE = (
    "billing: issue scheduled invoices",
    "billing.tasks.invoices_scheduled_issue_scheduled",
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
        ("billing", "0015_customer_vat_proxy"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="scheduled_issue_at",
            field=models.DateTimeField(
                blank=True,
                help_text="A draft (one-off invoice) finalized by the schedule at this time; "
                "until then the draft grace period does not finalize it.",
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(
                condition=models.Q(("scheduled_issue_at__isnull", False), ("status", "draft")),
                fields=["scheduled_issue_at"],
                name="invoice_scheduled_draft_idx",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
