from billing.models.events import BillingEvent
from billing.models.invoices import (
    BillRun,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    InvoiceStatus,
    LineKind,
)
from billing.models.subscriptions import Subscription, SubscriptionStatus

__all__ = [
    "BillRun",
    "BillingEvent",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "InvoiceStatus",
    "LineKind",
    "Subscription",
    "SubscriptionStatus",
]
