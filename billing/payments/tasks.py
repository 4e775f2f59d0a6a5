"""django-q2 entry points of payments."""

from django.utils import timezone

from billing.invoicing.models.credits import CreditNote
from billing.payments.services.collection import invoice_collect
from billing.payments.services.incomplete_jobs import subscriptions_incomplete_expire
from billing.payments.services.methods import payment_methods_expiring_notify
from billing.payments.services.payments import payments_resolve_unknown
from billing.payments.services.refunds import credit_note_refund


def payments_resolve_scheduled() -> int:
    return payments_resolve_unknown(at=timezone.now())


def payment_methods_expiring_scheduled() -> int:
    return payment_methods_expiring_notify(at=timezone.now())


def subscriptions_incomplete_expire_scheduled() -> int:
    """Every 10 minutes: incomplete subscriptions whose first invoice stayed unpaid too long."""
    return subscriptions_incomplete_expire(at=timezone.now())


def invoice_collect_task(*, invoice_id: int) -> str:
    """Charge a just-finalized invoice to the customer's default method (queued on commit)."""
    return invoice_collect(invoice_id=invoice_id, at=timezone.now())


def credit_note_refund_task(*, credit_note_id: int) -> int:
    """Pay back what a credit note refunds (queued on commit by `credit_note_issue`)."""
    note = CreditNote.objects.get(pk=credit_note_id)
    return len(credit_note_refund(credit_note=note, at=timezone.now()))
