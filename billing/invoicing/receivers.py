"""Invoicing's follow-ups of billing events: a paid invoice's receipt is mailed (a task queued
when the `invoice.paid` event commits). Connected by `BillingConfig.ready` (billing/apps.py)."""

from billing.events.services import billing_event_task_register


def connect() -> None:
    billing_event_task_register(
        kind="invoice.paid",
        task="billing.invoicing.tasks.invoice_receipt_send_task",
        argument="invoice_id",
    )
