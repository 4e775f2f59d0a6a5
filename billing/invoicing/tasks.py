"""django-q2 entry points of invoicing: bill runs, drafts due, invoice documents."""

from django.conf import settings
from django.utils import timezone

from billing.invoicing.services.bill_runs import (
    bill_run_request,
    bill_run_work,
    bill_runs_abandon_stale,
    drafts_finalize_due,
)
from billing.invoicing.services.documents import invoice_email_send, invoice_receipt_send
from billing.invoicing.services.one_off import invoices_scheduled_issue


def bill_run_scheduled() -> int:
    """The hourly run: queued, then worked in time slices like one requested by the API."""
    return bill_run_request(as_of=timezone.now(), at=timezone.now(), actor="schedule").pk


def bill_run_task(*, bill_run_id: int, actor: str | None = None) -> str:
    """Work a queued bill run for a time slice (queued on commit by `bill_run_request`)."""
    run = bill_run_work(
        bill_run_id=bill_run_id, actor=actor, seconds=settings.BILL_RUN_TASK_SECONDS
    )
    return run.status if run else "not queued"


def bill_runs_abandon_stale_scheduled() -> int:
    return bill_runs_abandon_stale(at=timezone.now())


def drafts_finalize_scheduled() -> int:
    return drafts_finalize_due(at=timezone.now())


def invoices_scheduled_issue_scheduled() -> int:
    """Every 10 minutes: finalize the one-off invoices whose issue date has come."""
    return len(invoices_scheduled_issue(at=timezone.now()).issued)


def invoice_email_send_task(invoice_id: int) -> None:
    """Queued on commit of `invoice_finalize`; safe to run twice (sends once)."""
    invoice_email_send(invoice_id=invoice_id)


def invoice_receipt_send_task(invoice_id: int) -> None:
    """Queued on commit of every `invoice.paid` event; sends the receipt once."""
    invoice_receipt_send(invoice_id=invoice_id)
