"""The bill run: everything due by `as_of`, one consolidated invoice per customer and currency.

Each customer is billed in its own transaction with its row and its subscriptions locked, so
two runs at once serialize per customer, a crash loses at most the customer in flight, and a
rerun continues: what was billed moved `billed_through`, and each line's unique
`billing_key` is the last guard against billing anything twice.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from billing.models import BillRun, Invoice, Subscription, SubscriptionStatus
from billing.models.invoices import BillRunStatus
from billing.services.events import Actor
from billing.services.invoicing import invoice_create, invoice_finalize
from billing.services.subscriptions import subscription_advance
from customers.models import Customer

S = SubscriptionStatus
BATCH_SIZE = 500


def subscriptions_due(as_of: datetime):
    """Subscriptions a run must look at: starting, ending a trial, or with a period to bill or
    to close by `as_of`."""
    return Subscription.objects.filter(
        Q(status=S.PENDING, start_at__lte=as_of)
        | Q(status=S.TRIALING, trial_end_at__lte=as_of)
        | Q(status__in=[S.ACTIVE, S.PAST_DUE, S.SUSPENDED])
        & (
            Q(billed_through__isnull=True)
            | Q(billed_through__lte=as_of)
            | Q(current_period_end__lte=as_of)
        )
    )


def bill_customer(
    *, customer_id: int, as_of: datetime, bill_run: BillRun | None = None, actor: Actor = None
) -> tuple[list[Invoice], int]:
    """Bill one customer; returns its new invoices and how many lines they hold."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer_id)
        subs = (
            subscriptions_due(as_of)
            .filter(customer_id=customer_id)
            .select_related("plan")
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        lines_by_currency = defaultdict(list)
        for sub in subs:
            sub.customer = customer
            for line in subscription_advance(sub=sub, as_of=as_of, actor=actor):
                lines_by_currency[sub.currency].append(line)
        invoices = [
            invoice_create(
                customer=customer,
                currency=currency,
                lines=lines,
                at=as_of,
                bill_run=bill_run,
                actor=actor,
            )
            for currency, lines in sorted(lines_by_currency.items())
        ]
    line_count = sum(len(lines) for lines in lines_by_currency.values())
    if settings.INVOICE_DRAFT_GRACE_HOURS == 0:
        invoices = [
            invoice_finalize(invoice=invoice, at=as_of, actor=actor) for invoice in invoices
        ]
    return invoices, line_count


def bill_run_execute(
    *,
    as_of: datetime,
    at: datetime,
    actor: Actor = None,
    progress: Callable[[BillRun], None] | None = None,
) -> BillRun:
    """Bill everything due by `as_of` (past or future: a simulation). Streams customers in
    batches by id, so memory stays flat."""
    run = BillRun.objects.create(as_of=as_of, started_at=at)
    last_id = 0
    try:
        while True:
            batch = list(
                subscriptions_due(as_of)
                .filter(customer_id__gt=last_id)
                .order_by("customer_id")
                .values_list("customer_id", flat=True)
                .distinct()[:BATCH_SIZE]
            )
            if not batch:
                break
            for customer_id in batch:
                invoices, line_count = bill_customer(
                    customer_id=customer_id, as_of=as_of, bill_run=run, actor=actor
                )
                run.invoices_created += len(invoices)
                run.lines_created += line_count
            run.customers_seen += len(batch)
            last_id = batch[-1]
            run.save(update_fields=["customers_seen", "invoices_created", "lines_created"])
            if progress:
                progress(run)
    except Exception as exc:
        run.status, run.error = BillRunStatus.FAILED, repr(exc)
        run.save(update_fields=["status", "error"])
        raise
    run.status, run.finished_at = BillRunStatus.COMPLETED, max(at, run.started_at)
    run.save(update_fields=["status", "finished_at"])
    return run


def drafts_finalize_due(*, at: datetime, actor: Actor = None) -> int:
    """Finalize drafts older than the grace period (a scheduled task)."""
    cutoff = at - timedelta(hours=settings.INVOICE_DRAFT_GRACE_HOURS)
    count = 0
    for invoice in Invoice.objects.filter(status="draft", created_at__lte=cutoff).order_by("pk"):
        invoice_finalize(invoice=invoice, at=at, actor=actor)
        count += 1
    return count
