"""The customer balance: credit notes' balance applied to the next invoices, negative
invoices, and the append-only ledger of balance transactions."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from billing.events.models import AppendOnlyError
from billing.invoicing.services import bill_runs
from billing.invoicing.services import credits as c
from billing.invoicing.services import invoices as invoicing
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.tests.credits_helpers import (
    AT,
    D,
    balance,
    error_of,
    make_invoice,
    refreshed,
    utc,
)
from billing.models import BalanceTransaction, BillingEvent, Invoice
from billing.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


# --- The balance on later invoices ---
def test_balance_from_a_credit_note_pays_the_next_invoices():
    customer = factories.customer(external_id="acme")
    plan = factories.plan(amount="30.00")
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 10))
    first = Invoice.objects.get()
    first = invoicing.invoice_mark_paid(invoice=first, at=utc(2027, 1, 10))
    c.credit_note_issue(invoice=first, at=utc(2027, 1, 20), reason="order_change")
    c.balance_adjust(
        customer=customer, currency="USD", amount=D("15.00"), description="Goodwill", at=AT
    )
    assert balance(customer) == D("45.00")

    bill_runs.bill_run_execute(as_of=utc(2027, 2, 10), at=utc(2027, 2, 10))
    second = Invoice.objects.exclude(pk=first.pk).get()
    assert second.lines.get().subscription == sub
    assert (second.status, second.amount_paid, second.amount_due) == ("paid", D("30.00"), 0)
    assert balance(customer) == D("15.00")

    bill_runs.bill_run_execute(as_of=utc(2027, 3, 10), at=utc(2027, 3, 10))
    third = Invoice.objects.order_by("-pk").first()
    assert (third.status, third.amount_paid, third.amount_due) == ("open", D("15.00"), D("15.00"))
    assert balance(customer) == 0
    applied = BalanceTransaction.objects.filter(kind="invoice_applied").order_by("pk")
    assert [(e.invoice_id, e.amount) for e in applied] == [
        (second.pk, D("-30.00")),
        (third.pk, D("-15.00")),
    ]
    assert BillingEvent.objects.filter(kind="invoice.balance_applied").count() == 2
    assert BillingEvent.objects.filter(kind="invoice.paid", subject_id=str(second.pk)).exists()


def test_balance_is_per_currency(customer):
    c.balance_adjust(customer=customer, currency="EUR", amount=D("50.00"), description="x", at=AT)
    invoice = make_invoice(customer, ["30.00"])
    assert (refreshed(invoice).amount_paid, balance(customer, "EUR")) == (0, D("50.00"))
    euro = make_invoice(customer, ["30.00"], currency="EUR")
    assert refreshed(euro).status == "paid"
    assert balance(customer, "EUR") == D("20.00")


def test_applying_the_balance_twice_changes_nothing(customer):
    c.balance_adjust(customer=customer, currency="USD", amount=D("50.00"), description="x", at=AT)
    invoice = make_invoice(customer, ["30.00", "20.00"], finalize=False)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        assert c.invoice_apply_balance(invoice=invoice, at=AT) == 0  # a draft: not yet
    invoice = invoicing.invoice_finalize(invoice=invoice, at=AT)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        assert c.invoice_apply_balance(invoice=invoice, at=AT) == 0
        assert c.invoice_settle_negative(invoice=invoice, at=AT) == 0
    invoice = refreshed(invoice)
    assert (invoice.status, invoice.amount_paid) == ("paid", D("50.00"))
    assert balance(customer) == 0
    assert BalanceTransaction.objects.filter(kind="invoice_applied").count() == 1


def test_negative_invoice_is_settled_to_the_balance(customer):
    invoice = make_invoice(customer, ["20.00", "-50.00"])
    invoice = refreshed(invoice)
    assert invoice.total == D("-30.00")
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("paid", 0, 0)
    entry = BalanceTransaction.objects.get()
    assert (entry.kind, entry.amount, entry.invoice) == ("invoice_credit", D("30.00"), invoice)
    assert BillingEvent.objects.filter(kind="invoice.credited_to_balance").count() == 1
    # The next invoice uses it up.
    later = make_invoice(customer, ["45.00"])
    later = refreshed(later)
    assert (later.status, later.amount_paid, later.amount_due) == ("open", D("30.00"), D("15.00"))
    assert balance(customer) == 0


def test_negative_invoice_from_a_downgrade(customer):
    """A change that credits more than it charges leaves a negative pending total."""
    plan = factories.plan(code="big", amount="100.00")
    small = factories.plan(code="small", amount="10.00")
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 1))
    invoicing.invoice_mark_paid(invoice=Invoice.objects.get(), at=utc(2027, 1, 1))
    subscription_change(subscription=sub, plan=small, at=utc(2027, 1, 16))
    pending = list(invoicing.pending_lines(customer=customer))
    assert sum(ln.amount for ln in pending) < 0
    with transaction.atomic():
        invoice = invoicing.invoice_create(
            customer=customer, currency="USD", lines=[], at=utc(2027, 1, 16)
        )
    invoice = invoicing.invoice_finalize(invoice=invoice, at=utc(2027, 1, 16))
    invoice = refreshed(invoice)
    assert invoice.total < 0
    assert (invoice.status, invoice.amount_due) == ("paid", 0)
    assert balance(customer) == -invoice.total


# --- The ledger ---
def test_balance_transactions_are_append_only(customer):
    entry = c.balance_adjust(
        customer=customer, currency="USD", amount=D("5.00"), description="x", at=AT
    )
    entry.amount = D("500.00")
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


@pytest.mark.parametrize(
    ("amount", "description", "field", "code"),
    [
        (D("-0.01"), "x", "amount", "insufficient_balance"),
        (D(0), "x", "amount", "invalid"),
        (D("1.001"), "x", "amount", "too_many_decimal_places"),
        (D(1), " ", "description", "required"),
    ],
)
def test_invalid_adjustments_are_refused(customer, amount, description, field, code):
    with pytest.raises(ValidationError) as exc:
        c.balance_adjust(
            customer=customer, currency="USD", amount=amount, description=description, at=AT
        )
    assert error_of(exc) == (field, code)


def test_an_adjustment_can_take_balance_back(customer):
    c.balance_adjust(customer=customer, currency="USD", amount=D(10), description="x", at=AT)
    c.balance_adjust(customer=customer, currency="USD", amount=D(-4), description="y", at=AT)
    assert c.customer_balances(customer) == {"USD": D(6)}
    assert BillingEvent.objects.filter(kind="balance.adjusted").count() == 2
