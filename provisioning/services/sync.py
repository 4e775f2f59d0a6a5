"""The provisioning consumer of the billing event log.

Events are read in id order after the stored cursor, under a lock of the cursor row (two
consumers never handle the same page; billing.events.cursor keeps the ids that commit late).
Each event becomes at most one order (unique source event + kind), created in the
transaction that moves the cursor: handled once."""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from billing.events.cursor import cursor_advance, cursor_locked, cursor_pending, cursor_unread
from billing.models import BillingEvent, Subscription, SubscriptionStatus
from provisioning.models import CustomerAccess, EventCursor, Order, OrderKind
from provisioning.services.orders import OPEN, UNFINISHED, order_create, order_run
from provisioning.services.steps import has_paying_subscription

logger = logging.getLogger("provisioning.sync")

CONSUMER = "provisioning"
EVENT_ORDERS = {
    "subscription.activated": OrderKind.ACTIVATE,
    "subscription.trial_started": OrderKind.ACTIVATE,
    "invoice.paid": OrderKind.ACTIVATE,  # only for a customer not active yet
    "subscription.suspended": OrderKind.SUSPEND,
    "subscription.paused": OrderKind.SUSPEND,
    "subscription.recovered": OrderKind.RESTORE,
    "subscription.resumed": OrderKind.RESTORE,
    "subscription.changed": OrderKind.CHANGE,
    "subscription.renewed": OrderKind.RENEW,
    "subscription.canceled": OrderKind.CANCEL,
    # its first charge failed: held like a suspended one; paid, it is
    # `subscription.activated` again; expired, it ends as a canceled one does
    "subscription.incomplete": OrderKind.SUSPEND,
    "subscription.incomplete_expired": OrderKind.CANCEL,
}
# Handled in the process that made them, right after their commit (`billing_event_apply`):
# subscription changes. Not `invoice.paid` (bill runs finalize many invoices at once; a paid
# incomplete subscription says `subscription.activated`).
INLINE_KINDS = (
    *(kind for kind in EVENT_ORDERS if kind.startswith("subscription.")),
    "subscription.addon",
    "subscription_addon.",
)
NOT_PAID = (SubscriptionStatus.INCOMPLETE, SubscriptionStatus.INCOMPLETE_EXPIRED)
INLINE_LIMIT = 200  # unread events of one customer: more, and the worker is left to it


def event_order_kind(event: BillingEvent) -> str | None:
    if event.kind.startswith(("subscription.addon", "subscription_addon.")):
        return OrderKind.CHANGE
    return EVENT_ORDERS.get(event.kind)


def _subscription(event: BillingEvent) -> Subscription | None:
    if event.subject_type != "billing.subscription":
        return None
    return Subscription.objects.select_related("plan__product").filter(pk=event.subject_id).first()


def _activation_needed(event: BillingEvent) -> bool:
    """`invoice.paid` activates a paying customer whose access is not active and who has no
    activation on the way (the usual case: the first payment of a subscription)."""
    access = CustomerAccess.objects.filter(customer_id=event.customer_id).first()
    if access is not None and access.status != "none":
        return False
    if Order.objects.filter(
        customer_id=event.customer_id, kind=OrderKind.ACTIVATE, status__in=UNFINISHED
    ).exists():
        return False
    return has_paying_subscription(event.customer)


def billing_event_handle(*, event: BillingEvent, at: datetime) -> Order | None:
    """The order an event asks for (None: nothing to do, or already done)."""
    kind = event_order_kind(event)
    if kind is None or event.customer_id is None:
        return None
    if event.kind == "invoice.paid" and not _activation_needed(event):
        return None
    sub = _subscription(event)
    if event.kind == "subscription.activated" and sub is not None and sub.status in NOT_PAID:
        return None  # its first charge failed meanwhile: granted when paid (activated again)
    if sub is None and event.kind == "invoice.paid":
        sub = (
            Subscription.objects.filter(customer_id=event.customer_id)
            .select_related("plan__product")
            .order_by("-pk")
            .first()
        )
    return order_create(
        customer=event.customer,
        kind=kind,
        at=at,
        source_event=event,
        subscription=sub,
        payload={"event": event.kind, **{k: v for k, v in event.payload.items() if k != "lines"}},
    )


def billing_event_apply(*, event_id: int, at: datetime) -> list[Order]:
    """Right after a billing change commits, in its process (registered in `apps`): make the
    orders of the customer's events up to this one that the consumer has not read yet (in
    order), then run the customer's open orders' database steps, so `/access/check` answers
    for the new state at once; outside calls stay for the worker. The consumer reading the
    events later finds their orders made (one per event and kind): nothing is done twice.
    Nothing is done here when the consumer is far behind on this customer."""
    customer_id = (
        BillingEvent.objects.filter(pk=event_id).values_list("customer_id", flat=True).first()
    )
    if customer_id is None:
        return []
    cursor = EventCursor.objects.filter(consumer=CONSUMER).first()
    read_up_to = cursor.last_event_id if cursor else 0
    missed = list(cursor_pending(cursor, at)) if cursor else []
    unread = (
        BillingEvent.objects.filter(customer_id=customer_id, pk__lte=event_id)
        .filter(Q(pk__gt=read_up_to) | Q(pk__in=missed))
        .select_related("customer")
        .order_by("pk")
    )
    events = list(unread[: INLINE_LIMIT + 1])
    if len(events) > INLINE_LIMIT:
        return []
    with transaction.atomic():
        for event in events:
            billing_event_handle(event=event, at=at)
    orders = Order.objects.filter(customer_id=customer_id, status__in=OPEN)
    return [order_run(order=o, at=at, inline=True) for o in orders.order_by("created_at", "pk")]


@transaction.atomic
def billing_events_consume(*, at: datetime, limit: int = 500) -> int:
    """Handle the next page of events (orders are made, not run); the number read."""
    cursor = cursor_locked(EventCursor, CONSUMER)
    pending = cursor_pending(cursor, at)
    events = list(cursor_unread(cursor, pending).select_related("customer")[:limit])
    for event in events:
        billing_event_handle(event=event, at=at)
    cursor_advance(cursor, events, pending, at)
    cursor.save()
    if events:
        logger.info("read %s billing events up to #%s", len(events), cursor.last_event_id)
    return len(events)
