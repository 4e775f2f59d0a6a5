"""Reading invoicing: the invoice a subscription's next bill run would make."""

from datetime import datetime

from django.utils import timezone

from billing.invoicing.models.invoices import Invoice, InvoiceLine
from billing.invoicing.services.charges import subscription_due_charges
from billing.invoicing.services.invoices import invoice_totals, pending_lines
from billing.invoicing.services.taxes import InvoiceTaxer, tax_point
from billing.invoicing.services.usage_lines import aggregate_lines, usage_due
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from billing.usage.pricing import plan_charges
from customers.models import Customer

S = SubscriptionStatus


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
    if as_of is not None:  # usage of the periods ending by then, priced on unsaved copies
        charges = plan_charges([sub.plan_id]).get(sub.plan_id, [])
        for aggregate in usage_due(as_of).filter(subscription=sub).select_related("metric"):
            lines += aggregate_lines(sub, aggregate, charges)
    lines = [*pending_lines(customer=sub.customer, currency=sub.currency), *lines]
    invoice = Invoice(customer=sub.customer, currency=sub.currency)
    invoice.period_start = min((ln.period_start for ln in lines), default=None)
    invoice.period_end = max((ln.period_end for ln in lines), default=None)
    at = as_of or timezone.now()
    InvoiceTaxer().tax(invoice=invoice, lines=lines, on=tax_point(sub.customer, at))
    invoice_totals(invoice, lines)
    invoice.preview_lines = lines
    return invoice


def invoice_preview(
    *, customer: Customer, currency: str, lines: list[InvoiceLine], at: datetime
) -> Invoice:
    """The unsaved invoice `lines` (unsaved too, e.g. a change's proration preview) would make
    on their own, taxed at `at`'s tax point: subtotal, tax and total, lines taxed in place.
    Discounts and the customer's other pending lines are left out."""
    invoice = Invoice(customer=customer, currency=currency)
    InvoiceTaxer().tax(invoice=invoice, lines=lines, on=tax_point(customer, at))
    invoice_totals(invoice, lines)
    invoice.preview_lines = lines
    return invoice
