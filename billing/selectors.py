from django.db.models import QuerySet

from billing.models import BillingEvent, Invoice, InvoiceLine, Subscription, SubscriptionStatus
from billing.services.charges import subscription_due_charges
from billing.services.invoicing import invoice_totals, pending_lines

S = SubscriptionStatus


def billing_event_list(
    *, after_id: int = 0, kinds: list[str] | None = None
) -> QuerySet[BillingEvent]:
    """Events after a consumer's cursor, in log order."""
    events = BillingEvent.objects.filter(id__gt=after_id).order_by("id")
    if kinds:
        events = events.filter(kind__in=kinds)
    return events


def subscription_upcoming_invoice(*, sub: Subscription) -> Invoice:
    """The invoice the next bill run would make for this subscription, with the customer's
    pending lines in its currency (unsaved; its lines are on `preview_lines`)."""
    lines: list[InvoiceLine] = []
    ended = sub.status in (S.CANCELED, S.EXPIRED)
    as_of = sub.trial_end_at if sub.status in (S.TRIALING, S.PENDING) else sub.current_period_end
    if sub.status == S.PENDING and not sub.trial_end_at:
        as_of = sub.start_at
    if not ended and sub.status != S.PAUSED and as_of is not None:
        lines = subscription_due_charges(sub=sub, as_of=as_of).lines
        if sub.cancel_at_period_end:
            lines = [ln for ln in lines if ln.period_start < sub.current_period_end]
    lines = [*pending_lines(customer=sub.customer, currency=sub.currency), *lines]
    invoice = Invoice(customer=sub.customer, currency=sub.currency)
    invoice.period_start = min((ln.period_start for ln in lines), default=None)
    invoice.period_end = max((ln.period_end for ln in lines), default=None)
    invoice_totals(invoice, lines)
    invoice.preview_lines = lines
    return invoice
