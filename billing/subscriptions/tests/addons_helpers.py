"""Shared by the add-on tests (test_addons*.py): add-ons, subscribing, bill runs, and the lines
they make as (period start, period end, kind, amount, description)."""

from datetime import UTC, datetime
from decimal import Decimal

from billing.invoicing.services.bill_runs import bill_run_execute
from billing.models import Invoice, InvoiceLine
from billing.tests import factories
from catalog import services as catalog


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def addon(code, amount, interval="month", currency="USD"):
    return catalog.addon_create(
        code=code,
        name=code.title(),
        currency=currency,
        amount=Decimal(amount),
        interval=interval,
    )


def summary(lines) -> list[tuple]:
    """(period start, period end, kind, amount, description) of each line; no period: None."""
    return [
        (
            ln.period_start.date().isoformat() if ln.period_start else None,
            ln.period_end.date().isoformat() if ln.period_end else None,
            ln.kind,
            ln.amount,
            ln.description,
        )
        for ln in lines
    ]


def invoice_lines(invoice) -> list[tuple]:
    return summary(invoice.lines.order_by("position"))


def pending() -> list[tuple]:
    return summary(InvoiceLine.objects.filter(invoice__isnull=True).order_by("pk"))


def run(*args):
    return bill_run_execute(as_of=utc(*args), at=utc(*args))


def latest_invoice():
    return Invoice.objects.latest("pk")


def subscribe(book, addons=(), plan=None, at=None, **kwargs):
    return factories.subscription(
        customer=book["customer"],
        plan=plan or book["basic"],
        at=at or utc(2027, 1, 1),
        addons=[{"addon": a, "quantity": q} for a, q in addons],
        **kwargs,
    )
