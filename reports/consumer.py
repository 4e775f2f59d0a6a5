"""The reports' consumer of the billing event log: recognition schedules, journal entries
and MRR history kept from billing's records, never written by billing.

It reads pages of events after its own cursor under a lock of the cursor row (like
provisioning's; billing.events.cursor keeps the ids that commit late). A page's invoices
are booked and posted in bulk; every other event is handled on its own savepoint, and one
that fails is recorded on the cursor (`failed`, shown in the admin) without stopping the
others. Every posting has a unique key, so reading an event twice posts nothing twice."""

import logging
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.events.cursor import cursor_advance, cursor_locked, cursor_pending, cursor_unread
from billing.models import (
    BalanceTransaction,
    BillingEvent,
    CreditNote,
    Discount,
    Invoice,
    Payment,
    Refund,
    Subscription,
)
from reports.ledger.closing import Closes
from reports.ledger.posting import (
    BALANCE_ROLES,
    BT,
    balance_posting,
    credit_note_posting,
    entries_save,
    invoice_posting,
    invoice_void_posting,
    marked_paid_posting,
    payment_posting,
    refund_posting,
)
from reports.metrics.history import subscriptions_mrr_refresh
from reports.models import EventCursor, JournalEntry
from reports.revenue import booking

logger = logging.getLogger("reports.consumer")

CONSUMER = "reports"
PAGE = 1000
MAX_FAILED = 200
# Events that move a customer's balance by an entry of its own (BALANCE_ROLES).
BALANCE_EVENTS = (
    "invoice.balance_applied",
    "invoice.credited_to_balance",
    "balance.adjusted",
    "subscription.sla_credited",
)
# What `_handle` posts from (other kinds, most of a bill run's, cost no savepoint).
HANDLED = frozenset(
    {
        "invoice.voided",
        "credit_note.issued",
        "payment.succeeded",
        "invoice.paid",
        "payment.refunded",
        *BALANCE_EVENTS,
    }
)
# Subscription events that cannot change MRR (renewals bill; they change no terms).
MRR_QUIET = ("subscription.renewed", "subscription.sla_credited", "subscription.email_sent")


class _Page:
    """One page of events being handled."""

    def __init__(self, at: datetime):
        self.at = at
        self.closes = Closes.load()
        self.postings: list = []
        self.finalized: list[BillingEvent] = []
        self.subscriptions: set[int] = set()

    def day(self, event: BillingEvent):
        return self.closes.dated(timezone.localdate(event.occurred_at), event.pk)

    def flush(self) -> None:
        """Book and post the invoices finalized so far, then store the postings."""
        if self.finalized:
            ids = {int(e.subject_id): e for e in self.finalized}
            invoices = Invoice.objects.filter(pk__in=ids).prefetch_related("lines")
            on = {pk: self.day(event) for pk, event in ids.items()}
            by_open: dict = {}
            for invoice in invoices:
                first_open = self.closes.first_open_day(ids[invoice.pk].pk)
                by_open.setdefault(first_open, []).append(invoice)
                self.postings.append(invoice_posting(invoice, on[invoice.pk]))
            for first_open, group in by_open.items():
                booking.invoices_book(group, on=on, first_open=first_open)
            self.finalized = []
        entries_save([p for p in self.postings if p], at=self.at)
        self.postings = []


def _balance(page: _Page, event: BillingEvent) -> None:
    """The customer's balance entries not posted yet. SLA credits wait for their own event,
    which names the subscription whose deferred revenue they take first."""
    sla = event.kind == "subscription.sla_credited"
    posted = JournalEntry.objects.filter(customer_id=event.customer_id, kind="balance")
    keys = posted.values_list("source_key", flat=True)
    entries = (
        BalanceTransaction.objects.filter(customer_id=event.customer_id, kind__in=BALANCE_ROLES)
        .exclude(pk__in=[int(key.split(":")[1]) for key in keys])
        .order_by("pk")
    )
    day = page.day(event)
    for entry in entries:
        from_deferred = 0
        if entry.kind == BT.SLA_CREDIT:
            if not sla:
                continue
            from_deferred, _ = booking.subscription_credit_book(
                subscription_id=int(event.subject_id),
                amount=entry.amount,
                on=day,
                source=f"balance:{entry.pk}",
            )
        page.postings.append(balance_posting(entry, day, from_deferred))


def _mrr_subjects(event: BillingEvent) -> list[int]:
    if event.subject_type == "billing.subscription" and event.kind not in MRR_QUIET:
        return [int(event.subject_id)]
    if event.subject_type == "billing.discount":
        discount = Discount.objects.filter(pk=event.subject_id).first()
        if discount is None:
            return []
        if discount.subscription_id:
            return [discount.subscription_id]
        subs = Subscription.objects.filter(customer_id=discount.customer_id)
        return list(subs.values_list("pk", flat=True))
    return []


def _handle(page: _Page, event: BillingEvent) -> None:
    kind, subject = event.kind, event.subject_id
    day = page.day(event)
    if kind == "invoice.voided":
        if not JournalEntry.objects.filter(source_key=f"invoice:{subject}").exists():
            return  # a draft voided: never booked
        invoice = Invoice.objects.get(pk=subject)
        from_deferred, _ = booking.invoice_void_book(invoice=invoice, on=day)
        page.postings.append(invoice_void_posting(invoice, day, from_deferred))
    elif kind == "credit_note.issued":
        note = CreditNote.objects.prefetch_related("lines").get(pk=subject)
        from_deferred, _ = booking.credit_note_book(note=note, on=day)
        page.postings.append(credit_note_posting(note, day, from_deferred))
    elif kind == "payment.succeeded":
        page.postings.append(payment_posting(Payment.objects.get(pk=subject), day))
    elif kind == "invoice.paid" and event.payload.get("marked_paid"):
        invoice = Invoice.objects.get(pk=subject)
        amount = Decimal(event.payload["marked_paid"])
        page.postings.append(marked_paid_posting(invoice, amount, day))
    elif kind == "payment.refunded":
        refund = Refund.objects.select_related("payment").get(pk=event.payload["refund"])
        page.postings.append(refund_posting(refund, day))
    elif kind in BALANCE_EVENTS:
        _balance(page, event)
    page.flush()


def _safely(page: _Page, cursor: EventCursor, event: BillingEvent, handle) -> None:
    try:
        with transaction.atomic():
            handle(page, event)
    except Exception as error:  # one bad record never stops the others
        logger.exception("reports could not handle billing event #%s", event.pk)
        page.postings, page.finalized = [], []
        failed = [*cursor.failed, {"id": event.pk, "error": str(error)[:300]}]
        cursor.failed = failed[-MAX_FAILED:]


def _book(page: _Page, event: BillingEvent) -> None:
    page.finalized = [event]
    page.flush()


def _invoices_flush(page: _Page, cursor: EventCursor) -> None:
    """Book the invoices gathered, all at once or, if that fails, one by one."""
    if not page.finalized:
        return
    try:
        with transaction.atomic():
            page.flush()
    except Exception:
        logger.exception("booking %s invoices at once failed; one by one", len(page.finalized))
        finalized, page.postings, page.finalized = page.finalized, [], []
        for event in finalized:
            _safely(page, cursor, event, _book)


def _mrr_refresh(subscription_ids: list[int], cursor: EventCursor, at: datetime) -> None:
    """The MRR history of these subscriptions, at once or, if that fails, one by one (one
    that fails is recorded on the cursor; its next event, or a rebuild, mends it)."""
    try:
        with transaction.atomic():
            subscriptions_mrr_refresh(subscription_ids=subscription_ids, at=at)
        return
    except Exception:
        logger.exception("refreshing the MRR of %s subscriptions failed", len(subscription_ids))
    for subscription_id in subscription_ids:
        try:
            with transaction.atomic():
                subscriptions_mrr_refresh(subscription_ids=[subscription_id], at=at)
        except Exception as error:
            logger.exception("refreshing the MRR of subscription %s failed", subscription_id)
            problem = {"subscription": subscription_id, "error": str(error)[:300]}
            failed = [*cursor.failed, problem]
            cursor.failed = failed[-MAX_FAILED:]


@transaction.atomic
def reports_events_consume(
    *, at: datetime, limit: int = PAGE, until: int | None = None, mrr: bool = True
) -> int:
    """Handle the next page of billing events (up to event #`until`); the number read.
    `mrr`: refresh the MRR history of the subscriptions they touch (a rebuild does it once
    for all at the end)."""
    cursor = cursor_locked(EventCursor, CONSUMER)
    pending = cursor_pending(cursor, at)
    unread = cursor_unread(cursor, pending)
    if until is not None:
        unread = unread.filter(pk__lte=until)
    events = list(unread[:limit])
    page = _Page(at)
    for event in events:
        if event.kind == "invoice.finalized":
            page.finalized.append(event)
        elif event.kind in HANDLED:
            _invoices_flush(page, cursor)  # the event may credit one of them
            _safely(page, cursor, event, _handle)
        page.subscriptions.update(_mrr_subjects(event))
    _invoices_flush(page, cursor)
    if mrr and page.subscriptions:
        _mrr_refresh(sorted(page.subscriptions), cursor, at)
    cursor_advance(cursor, events, pending, at)
    cursor.save()
    if events:
        logger.info("reports read %s billing events up to #%s", len(events), cursor.last_event_id)
    return len(events)


def reports_events_consume_all(*, at: datetime, until: int | None = None, mrr: bool = True) -> int:
    """Read pages until the log is read (up to event #`until`); the last event id read."""
    while reports_events_consume(at=at, until=until, mrr=mrr):
        pass
    return EventCursor.objects.get(consumer=CONSUMER).last_event_id
