"""The bill run: everything due by `as_of`, one consolidated invoice per customer and currency.

A run is a row (`BillRun`): requested (`queued`), then worked by a django-q2 task in time
slices (`running`; back to `queued` between slices), or at once by `manage.py bill_run`. At
most one run per `as_of` is queued or running (a partial unique constraint). A customer whose
billing raises is recorded on the run (`failures`) and the others are billed: a batch is
billed in a savepoint and, if it raises, again one customer per savepoint. The run touches
`heartbeat_at` after every batch; a run whose heartbeat went stale (its worker died) is
marked `abandoned` and can be resumed after `last_customer_id`.

Customers are billed in batches, each batch in one transaction with its customer rows and
subscriptions locked (in id order), so two runs at once serialize per batch, a crash loses at
most the batch in flight, and a rerun continues: what was billed moved `billed_through`, and
each line's unique `billing_key` is the last guard against billing anything twice. A batch
costs a fixed number of queries (bulk reads and writes), not a number per subscription.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from api.errors import Conflict, StateError
from billing.events.rows import rows_snapshot, rows_update
from billing.events.services import Actor, actor_label, billing_events_buffered
from billing.invoicing.models.invoices import (
    ACTIVE_BILL_RUN,
    BillRun,
    BillRunFailure,
    BillRunStatus,
    Invoice,
    InvoiceLine,
)
from billing.invoicing.services.invoices import (
    invoice_finalize,
    invoice_held,
    invoices_create,
)
from billing.invoicing.services.subscription_billing import ADVANCE_FIELDS, subscription_advance
from billing.invoicing.services.usage_lines import usage_due, usage_lines_due
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from customers.models import Customer, TaxIdStatus

S = SubscriptionStatus
R = BillRunStatus
BATCH_SIZE = 500
logger = logging.getLogger(__name__)


def subscriptions_due(as_of: datetime):
    """Subscriptions a run must look at: starting, ending a trial, or with a period to bill or
    to close by `as_of`. A suspended one only when a cancellation at its period end is due:
    it is neither renewed nor billed until restored."""
    return Subscription.objects.filter(
        Q(status=S.PENDING, start_at__lte=as_of)
        | Q(status=S.TRIALING, trial_end_at__lte=as_of)
        | Q(status__in=[S.ACTIVE, S.PAST_DUE])
        & (
            Q(billed_through__isnull=True)
            | Q(billed_through__lte=as_of)
            | Q(current_period_end__lte=as_of)
        )
        | Q(status=S.SUSPENDED, cancel_at_period_end=True, current_period_end__lte=as_of)
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
            invoice
            if invoice_held(invoice)
            else invoice_finalize(invoice=invoice, at=as_of, actor=actor)
            for invoice in invoices
        ]
    return invoices, line_count


def bill_customer(
    *, customer_id: int, as_of: datetime, bill_run: BillRun | None = None, actor: Actor = None
) -> tuple[list[Invoice], int]:
    return bill_customers(customer_ids=[customer_id], as_of=as_of, bill_run=bill_run, actor=actor)


def customers_due_count(as_of: datetime, after_id: int = 0) -> int:
    """How many customers `customers_due` would still yield after `after_id` (progress)."""
    ids = set(
        subscriptions_due(as_of)
        .filter(customer_id__gt=after_id)
        .values_list("customer_id", flat=True)
        .distinct()
    )
    ids.update(
        InvoiceLine.objects.filter(invoice__isnull=True, customer_id__gt=after_id)
        .values_list("customer_id", flat=True)
        .distinct()
    )
    ids.update(
        usage_due(as_of).filter(customer_id__gt=after_id).values_list("customer_id", flat=True)
    )
    return len(ids)


def _bill_batch(
    *, customer_ids: list[int], run: BillRun, actor: Actor
) -> tuple[list[Invoice], int, list[BillRunFailure]]:
    """Bill a batch in a savepoint; if it raises, bill it again one customer per savepoint and
    record each customer that raises (the batch path keeps a run's query count flat)."""
    try:
        with transaction.atomic():
            invoices, lines = bill_customers(
                customer_ids=customer_ids, as_of=run.as_of, bill_run=run, actor=actor
            )
        return invoices, lines, []
    except Exception:  # noqa: BLE001 - retried customer by customer below
        logger.info("bill run %s: batch raised, billing it customer by customer", run.pk)
    invoices, lines, failures = [], 0, []
    for customer_id in customer_ids:
        try:
            with transaction.atomic():
                made, count = bill_customers(
                    customer_ids=[customer_id], as_of=run.as_of, bill_run=run, actor=actor
                )
        except Exception as exc:  # noqa: BLE001 - recorded on the run, the others go on
            logger.exception("bill run %s: customer %s failed", run.pk, customer_id)
            failures.append(
                BillRunFailure(
                    bill_run=run,
                    customer_id=customer_id,
                    error=f"{exc.__class__.__name__}: {exc}"[:2000],
                    at=timezone.now(),
                )
            )
        else:
            invoices += made
            lines += count
    if failures:
        external_ids = dict(
            Customer.objects.filter(pk__in=[f.customer_id for f in failures]).values_list(
                "pk", "external_id"
            )
        )
        for failure in failures:
            failure.customer_external_id = external_ids.get(failure.customer_id) or ""
        BillRunFailure.objects.bulk_create(failures)
    return invoices, lines, failures


def bill_runs_abandon_stale(*, at: datetime, as_of: datetime | None = None) -> int:
    """Mark `abandoned` the queued or running runs whose heartbeat (or request) is older than
    `BILL_RUN_STALE_MINUTES` before `at` (the wall clock: heartbeats are): their worker died
    or never came. Returns how many."""
    cutoff = at - timedelta(minutes=settings.BILL_RUN_STALE_MINUTES)
    stale = BillRun.objects.filter(status__in=ACTIVE_BILL_RUN).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, requested_at__lt=cutoff)
    )
    if as_of is not None:
        stale = stale.filter(as_of=as_of)
    return stale.update(status=R.ABANDONED, error="No heartbeat: the worker stopped.")


def _bill_run_create(*, as_of: datetime, at: datetime) -> BillRun:
    bill_runs_abandon_stale(at=timezone.now(), as_of=as_of)  # heartbeats are wall-clock
    try:
        with transaction.atomic():
            return BillRun.objects.create(as_of=as_of, requested_at=at, status=R.QUEUED)
    except IntegrityError:  # the partial unique constraint: one active run per as_of
        active = BillRun.objects.filter(as_of=as_of, status__in=ACTIVE_BILL_RUN).first()
        raise Conflict(
            f"Bill run {active.pk if active else '?'} as of {as_of.isoformat()} is already "
            "queued or running.",
            code="bill_run_in_progress",
            field="as_of",
        ) from None


def _bill_run_enqueue(run: BillRun, actor: Actor = None) -> None:
    transaction.on_commit(
        partial(
            async_task,
            "billing.invoicing.tasks.bill_run_task",
            bill_run_id=run.pk,
            actor=actor_label(actor)[:200] if actor else None,
        )
    )


def bill_run_request(*, as_of: datetime, at: datetime, actor: Actor = None) -> BillRun:
    """Queue a run for a worker (API, admin); 409 `bill_run_in_progress` when a run for the
    same `as_of` is queued or running."""
    run = _bill_run_create(as_of=as_of, at=at)
    _bill_run_enqueue(run, actor)
    return run


def bill_run_resume(*, run: BillRun, at: datetime, actor: Actor = None) -> BillRun:
    """Queue an abandoned or failed run again: it continues after its last billed customer
    (billing keys make billing a customer twice impossible)."""
    bill_runs_abandon_stale(at=timezone.now(), as_of=run.as_of)
    run.refresh_from_db()
    if run.status not in (R.ABANDONED, R.FAILED):
        raise StateError(
            f"A {run.status} bill run cannot be resumed.", code="bill_run_not_resumable"
        )
    run.status, run.error, run.finished_at = R.QUEUED, "", None
    try:
        with transaction.atomic():
            run.save(update_fields=["status", "error", "finished_at"])
    except IntegrityError:
        raise Conflict(
            f"Another bill run as of {run.as_of.isoformat()} is queued or running.",
            code="bill_run_in_progress",
            field="as_of",
        ) from None
    _bill_run_enqueue(run, actor)
    return run


def bill_run_work(
    *,
    bill_run_id: int,
    actor: Actor = None,
    progress: Callable[[BillRun], None] | None = None,
    batch_size: int | None = None,
    seconds: float | None = None,
) -> BillRun | None:
    """Claim a queued run and bill its customers after `last_customer_id`. With `seconds`
    (the task), stop after that long, requeue the run and return; the next task continues.
    Returns None when the run was not queued (taken by another worker, or abandoned)."""
    now = timezone.now()
    claimed = BillRun.objects.filter(pk=bill_run_id, status=R.QUEUED).update(
        status=R.RUNNING, heartbeat_at=now
    )
    if not claimed:
        return None
    run = BillRun.objects.get(pk=bill_run_id)
    if run.started_at is None:
        run.started_at = now
    run.customers_total = run.customers_seen + customers_due_count(run.as_of, run.last_customer_id)
    run.save(update_fields=["started_at", "customers_total"])
    deadline = None if seconds is None else time.monotonic() + seconds
    batch_size = batch_size or BATCH_SIZE
    try:
        while batch := customers_due(run.as_of, run.last_customer_id, batch_size):
            with transaction.atomic():
                owner = BillRun.objects.select_for_update().get(pk=run.pk)
                if owner.status != R.RUNNING or owner.heartbeat_at != run.heartbeat_at:
                    return None  # declared abandoned meanwhile: someone else owns it now
                invoices, lines, failures = _bill_batch(customer_ids=batch, run=run, actor=actor)
                run.invoices_created += len(invoices)
                run.lines_created += lines
                run.customers_seen += len(batch)
                run.customers_failed += len(failures)
                run.last_customer_id = batch[-1]
                run.heartbeat_at = timezone.now()
                run.save(update_fields=PROGRESS_FIELDS)
            if progress:
                progress(run)
            if deadline is not None and time.monotonic() > deadline:
                return _bill_run_pause(run, actor)
    except Exception as exc:
        run.status, run.error, run.finished_at = R.FAILED, repr(exc), timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    except BaseException:  # interrupted (Ctrl-C, SystemExit): resumable
        run.status, run.error = R.ABANDONED, "Interrupted."
        run.save(update_fields=["status", "error"])
        raise
    run.status = R.COMPLETED_WITH_FAILURES if run.customers_failed else R.COMPLETED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run


PROGRESS_FIELDS = [
    "invoices_created",
    "lines_created",
    "customers_seen",
    "customers_failed",
    "last_customer_id",
    "heartbeat_at",
]


def _bill_run_pause(run: BillRun, actor: Actor) -> BillRun:
    with transaction.atomic():
        run.status = R.QUEUED
        run.save(update_fields=["status"])
        _bill_run_enqueue(run, actor)
    return run


def bill_run_execute(
    *,
    as_of: datetime,
    at: datetime,
    actor: Actor = None,
    progress: Callable[[BillRun], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> BillRun:
    """Bill everything due by `as_of` (past or future: a simulation) in this process
    (`manage.py bill_run`). Streams customers in batches by id, so memory stays flat."""
    run = _bill_run_create(as_of=as_of, at=at)
    worked = bill_run_work(
        bill_run_id=run.pk, actor=actor, progress=progress, batch_size=batch_size
    )
    return worked or BillRun.objects.get(pk=run.pk)


def drafts_finalize_due(*, at: datetime, actor: Actor = None) -> int:
    """Finalize drafts older than the grace period (a scheduled task); drafts held while a
    customer's VAT number is checked wait for the answer."""
    cutoff = at - timedelta(hours=settings.INVOICE_DRAFT_GRACE_HOURS)
    count = 0
    drafts = Invoice.objects.filter(
        status="draft", created_at__lte=cutoff, scheduled_issue_at__isnull=True
    ).exclude(  # scheduled one-off invoices: `invoices_scheduled_issue` issues them
        customer__tax_id_status=TaxIdStatus.PENDING
    )
    for invoice in drafts.order_by("pk"):
        invoice_finalize(invoice=invoice, at=at, actor=actor)
        count += 1
    return count
