"""The bill run: everything due by `as_of`, one consolidated invoice per customer and currency.

Customers are billed in batches, each batch in one transaction with its customer rows and
subscriptions locked (in id order), so two runs at once serialize per batch, a crash loses at
most the batch in flight, and a rerun continues: what was billed moved `billed_through`, and
each line's unique `billing_key` is the last guard against billing anything twice. A batch
costs a fixed number of queries (bulk reads and writes), not a number per subscription.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from billing.models import BillRun, Invoice, InvoiceLine, Subscription, SubscriptionStatus
from billing.models.invoices import BillRunStatus
from billing.services.events import Actor, billing_events_buffered
from billing.services.invoicing import invoice_finalize, invoices_create
from billing.services.rows import rows_snapshot, rows_update
from billing.services.subscriptions import ADVANCE_FIELDS, subscription_advance
from billing.services.usage_billing import usage_due, usage_lines_due
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


def customers_due(as_of: datetime, after_id: int, limit: int) -> list[int]:
    """Ids of the next customers with a subscription due, a pending line or usage due, in id
    order."""
    with_subs = (
        subscriptions_due(as_of)
        .filter(customer_id__gt=after_id)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()[:limit]
    )
    with_pending = (
        InvoiceLine.objects.filter(invoice__isnull=True, customer_id__gt=after_id)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()[:limit]
    )
    with_usage = (
        usage_due(as_of)
        .filter(customer_id__gt=after_id)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()[:limit]
    )
    return sorted(set(with_subs) | set(with_pending) | set(with_usage))[:limit]


def bill_customers(
    *,
    customer_ids: list[int],
    as_of: datetime,
    bill_run: BillRun | None = None,
    actor: Actor = None,
) -> tuple[list[Invoice], int]:
    """Bill these customers in one transaction; returns the new invoices and their lines."""
    with transaction.atomic(), billing_events_buffered():
        customers = {
            c.pk: c
            for c in Customer.objects.select_for_update().filter(pk__in=customer_ids).order_by("pk")
        }
        subs = list(
            subscriptions_due(as_of)
            .filter(customer_id__in=customer_ids)
            .select_related("plan")
            .prefetch_related("addons__addon")
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        before = rows_snapshot(subs, ADVANCE_FIELDS)
        due = defaultdict(list)
        # Usage first, priced on the plan of the period it was used in (before a change
        # scheduled for the period end switches the plan).
        for line in usage_lines_due(
            customer_ids=customer_ids, subs={sub.pk: sub for sub in subs}, as_of=as_of
        ):
            due[(line.customer_id, line.currency)].append(line)
        for sub in subs:
            sub.customer = customers[sub.customer_id]
            for line in subscription_advance(sub=sub, as_of=as_of, actor=actor, save=False):
                due[(sub.customer_id, sub.currency)].append(line)
        rows_update(Subscription, subs, ADVANCE_FIELDS, snapshot=before)
        for customer_id, currency in (
            InvoiceLine.objects.filter(customer_id__in=customer_ids, invoice__isnull=True)
            .values_list("customer_id", "currency")
            .distinct()
        ):
            due.setdefault((customer_id, currency), [])
        drafts = [
            (customers[customer_id], currency, lines)
            for (customer_id, currency), lines in sorted(due.items())
        ]
        invoices = invoices_create(drafts=drafts, at=as_of, bill_run=bill_run, actor=actor)
    line_count = sum(invoice.line_count for invoice in invoices)
    if settings.INVOICE_DRAFT_GRACE_HOURS == 0:
        invoices = [
            invoice_finalize(invoice=invoice, at=as_of, actor=actor) for invoice in invoices
        ]
    return invoices, line_count


def bill_customer(
    *, customer_id: int, as_of: datetime, bill_run: BillRun | None = None, actor: Actor = None
) -> tuple[list[Invoice], int]:
    return bill_customers(customer_ids=[customer_id], as_of=as_of, bill_run=bill_run, actor=actor)


def bill_run_execute(
    *,
    as_of: datetime,
    at: datetime,
    actor: Actor = None,
    progress: Callable[[BillRun], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> BillRun:
    """Bill everything due by `as_of` (past or future: a simulation). Streams customers in
    batches by id, so memory stays flat."""
    run = BillRun.objects.create(as_of=as_of, started_at=at)
    last_id = 0
    try:
        while batch := customers_due(as_of, last_id, batch_size):
            invoices, line_count = bill_customers(
                customer_ids=batch, as_of=as_of, bill_run=run, actor=actor
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
