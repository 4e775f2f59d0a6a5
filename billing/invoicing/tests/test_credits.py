"""Credit notes: issued on open and paid invoices, and the limits on what they may credit."""

import pytest
from django.core.exceptions import ValidationError
from django_fsm import TransitionNotAllowed

from api.errors import StateError
from billing.invoicing.services import credits as c
from billing.invoicing.services import invoices as invoicing
from billing.invoicing.tests.credits_helpers import (
    AT,
    D,
    balance,
    error_of,
    line_ids,
    make_invoice,
    paid_invoice,
    refreshed,
)
from billing.models import BalanceTransaction, BillingEvent, CreditNote
from billing.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


# --- Credit notes on open invoices ---
def test_full_credit_note_on_open_invoice_reduces_the_amount_due_and_pays_it(customer):
    invoice = make_invoice(customer, ["30.00", "20.00"])
    note = c.credit_note_issue(invoice=invoice, at=AT, reason="duplicate", memo="Billed twice")
    assert note.number == "CN-2027-000001"
    assert (note.total, note.amount_due_reduction, note.refund_amount, note.credit_amount) == (
        D("50.00"),
        D("50.00"),
        0,
        0,
    )
    assert [(ln.invoice_line_id, ln.amount) for ln in note.lines.all()] == list(
        zip(line_ids(invoice), [D("30.00"), D("20.00")], strict=True)
    )
    invoice = refreshed(invoice)
    assert (invoice.status, invoice.amount_due, invoice.amount_paid, invoice.total) == (
        "paid",
        0,
        0,
        D("50.00"),
    )
    assert balance(customer) == 0
    kinds = list(BillingEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == ["credit_note.issued", "invoice.paid"]
    issued = BillingEvent.objects.get(kind="credit_note.issued")
    assert issued.payload["invoice"] == invoice.number
    assert issued.payload["total"] == "50.00"


def test_partial_credit_note_on_open_invoice_keeps_it_open(customer):
    invoice = make_invoice(customer, ["30.00", "20.00"])
    first, second = line_ids(invoice)
    note = c.credit_note_issue(
        invoice=invoice,
        at=AT,
        reason="product_unsatisfactory",
        lines=[{"invoice_line": second, "amount": D("5.00")}],
    )
    assert (note.total, note.amount_due_reduction, note.credit_amount) == (D("5.00"), D("5.00"), 0)
    invoice = refreshed(invoice)
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == ("open", D("45.00"), 0)
    # A full note afterwards credits what is left of each line.
    rest = c.credit_note_issue(invoice=invoice, at=AT, reason="order_change")
    assert rest.number == "CN-2027-000002"
    assert [(ln.invoice_line_id, ln.amount) for ln in rest.lines.all()] == [
        (first, D("30.00")),
        (second, D("15.00")),
    ]
    assert refreshed(invoice).status == "paid"


def test_refund_out_of_an_open_amount_due_is_refused(customer):
    invoice = make_invoice(customer, ["30.00"])
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(invoice=invoice, at=AT, reason="other", refund=D("1.00"))
    assert error_of(exc) == ("refund", "exceeds_paid")
    assert not CreditNote.objects.exists()


# --- Credit notes on paid invoices ---
def test_full_credit_note_on_paid_invoice_goes_to_the_balance(customer):
    invoice = paid_invoice(customer, ["30.00"])
    note = c.credit_note_issue(invoice=invoice, at=AT, reason="fraudulent")
    assert (note.amount_due_reduction, note.credit_amount, note.refund_amount) == (
        0,
        D("30.00"),
        0,
    )
    assert balance(customer) == D("30.00")
    entry = BalanceTransaction.objects.get()
    assert (entry.kind, entry.amount, entry.credit_note, entry.invoice) == (
        "credit_note",
        D("30.00"),
        note,
        invoice,
    )
    invoice = refreshed(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("paid", D("30.00"), 0)


def test_partial_credit_note_on_paid_invoice_with_a_refund(customer):
    invoice = paid_invoice(customer, ["30.00", "20.00"])
    _, second = line_ids(invoice)
    note = c.credit_note_issue(
        invoice=invoice,
        at=AT,
        reason="product_unsatisfactory",
        lines=[{"invoice_line": second, "amount": D("20.00")}],
        refund=D("15.00"),
    )
    assert (note.total, note.refund_amount, note.credit_amount) == (
        D("20.00"),
        D("15.00"),
        D("5.00"),
    )
    assert balance(customer) == D("5.00")
    refund = BillingEvent.objects.get(kind="credit_note.refund_requested")
    assert refund.payload == {
        "number": note.number,
        "invoice": invoice.number,
        "amount": "15.00",
        "currency": "USD",
    }


def test_a_refund_only_note_moves_no_balance(customer):
    invoice = paid_invoice(customer, ["30.00"])
    note = c.credit_note_issue(invoice=invoice, at=AT, reason="other", refund=D("30.00"))
    assert (note.refund_amount, note.credit_amount) == (D("30.00"), 0)
    assert not BalanceTransaction.objects.exists()


def test_on_a_partly_paid_open_invoice_the_due_part_goes_first(customer):
    c.balance_adjust(
        customer=customer, currency="USD", amount=D("10.00"), description="Goodwill", at=AT
    )
    invoice = make_invoice(customer, ["30.00"])  # the balance pays 10 at finalization
    invoice = refreshed(invoice)
    assert (invoice.amount_paid, invoice.amount_due) == (D("10.00"), D("20.00"))
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(invoice=invoice, at=AT, reason="other", refund=D("10.01"))
    assert error_of(exc) == ("refund", "exceeds_paid")
    note = c.credit_note_issue(invoice=invoice, at=AT, reason="other", refund=D("4.00"))
    assert (note.amount_due_reduction, note.refund_amount, note.credit_amount) == (
        D("20.00"),
        D("4.00"),
        D("6.00"),
    )
    invoice = refreshed(invoice)
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("paid", D("10.00"), 0)
    assert balance(customer) == D("6.00")


# --- Limits ---
def test_over_crediting_a_line_is_refused(customer):
    invoice = paid_invoice(customer, ["100.00", "50.00"])
    first, second = line_ids(invoice)
    c.credit_note_issue(
        invoice=invoice, at=AT, reason="other", lines=[{"invoice_line": first, "amount": D(80)}]
    )
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(
            invoice=invoice,
            at=AT,
            reason="other",
            lines=[
                {"invoice_line": second, "amount": D(10)},
                {"invoice_line": first, "amount": D("20.01")},
            ],
        )
    assert error_of(exc) == ("lines.1.amount", "exceeds_creditable")
    assert "20.00" in exc.value.messages[0]
    c.credit_note_issue(
        invoice=invoice,
        at=AT,
        reason="other",
        lines=[{"invoice_line": first, "amount": D(20)}, {"invoice_line": second, "amount": D(50)}],
    )
    assert balance(customer) == D("150.00")
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(invoice=invoice, at=AT, reason="other")
    assert error_of(exc) == ("invoice", "nothing_to_credit")
    assert CreditNote.objects.count() == 2


def test_over_crediting_the_invoice_total_is_refused(customer):
    # 100 charged, 40 credited on the invoice itself: 60 is the most a note can give back.
    invoice = paid_invoice(customer, ["100.00", "-40.00"])
    first, credit_line = line_ids(invoice)
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(
            invoice=invoice,
            at=AT,
            reason="other",
            lines=[{"invoice_line": first, "amount": D("60.01")}],
        )
    assert error_of(exc) == ("lines", "exceeds_creditable")
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(
            invoice=invoice,
            at=AT,
            reason="other",
            lines=[{"invoice_line": credit_line, "amount": D(1)}],
        )
    assert error_of(exc) == ("lines.0.amount", "exceeds_creditable")
    c.credit_note_issue(
        invoice=invoice, at=AT, reason="other", lines=[{"invoice_line": first, "amount": D(25)}]
    )
    full = c.credit_note_issue(invoice=invoice, at=AT, reason="other")
    # The rest of the charge and the invoice's own credit line: 75 − 40.
    assert [ln.amount for ln in full.lines.all()] == [D("75.00"), D("-40.00")]
    assert full.total == D("35.00")
    assert balance(customer) == D("60.00")


@pytest.mark.parametrize(
    ("lines", "field", "code"),
    [
        ([], "lines", "empty"),
        ([{"invoice_line": 0, "amount": D(1)}], "lines.0.line", "does_not_exist"),
        ([{"invoice_line": "first", "amount": D(0)}], "lines.0.amount", "min_value"),
        (
            [{"invoice_line": "first", "amount": D("1.005")}],
            "lines.0.amount",
            "too_many_decimal_places",
        ),
        (
            [{"invoice_line": "first", "amount": D(1)}, {"invoice_line": "first", "amount": D(1)}],
            "lines.1.line",
            "duplicate",
        ),
    ],
)
def test_invalid_lines_are_refused(customer, lines, field, code):
    invoice = make_invoice(customer, ["30.00"])
    (first,) = line_ids(invoice)
    lines = [{**ln, "invoice_line": first if ln["invoice_line"] == "first" else 0} for ln in lines]
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(invoice=invoice, at=AT, reason="other", lines=lines)
    assert error_of(exc) == (field, code)


def test_lines_of_another_invoice_are_refused(customer):
    invoice = make_invoice(customer, ["30.00"])
    other = make_invoice(customer, ["10.00"])
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(
            invoice=invoice,
            at=AT,
            reason="other",
            lines=[{"invoice_line": line_ids(other)[0], "amount": D(1)}],
        )
    assert error_of(exc) == ("lines.0.line", "does_not_exist")


def test_unknown_reason_is_refused(customer):
    invoice = make_invoice(customer, ["30.00"])
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(invoice=invoice, at=AT, reason="because")
    assert error_of(exc) == ("reason", "invalid_choice")


@pytest.mark.parametrize("status", ["draft", "void"])
def test_draft_and_void_invoices_cannot_be_credited(customer, status):
    invoice = make_invoice(customer, ["30.00"], finalize=False)
    if status == "void":
        invoice = invoicing.invoice_void(invoice=invoice, at=AT)
    with pytest.raises(StateError) as exc:
        c.credit_note_issue(invoice=invoice, at=AT, reason="other")
    assert exc.value.code == "invoice_not_creditable"
    assert not CreditNote.objects.exists()


def test_credit_notes_round_in_the_currency_precision():
    customer = factories.customer(external_id="tokyo", currency="JPY")
    invoice = paid_invoice(customer, ["1000"])
    (line,) = line_ids(invoice)
    with pytest.raises(ValidationError) as exc:
        c.credit_note_issue(
            invoice=invoice,
            at=AT,
            reason="other",
            lines=[{"invoice_line": line, "amount": D("0.5")}],
        )
    assert error_of(exc) == ("lines.0.amount", "too_many_decimal_places")
    c.credit_note_issue(
        invoice=invoice, at=AT, reason="other", lines=[{"invoice_line": line, "amount": D(333)}]
    )
    assert balance(customer, "JPY") == D(333)
    assert balance(customer, "USD") == 0


def test_mark_paid_after_a_credit_is_not_allowed_twice(customer):
    invoice = make_invoice(customer, ["30.00"])
    c.credit_note_issue(invoice=invoice, at=AT, reason="other")
    with pytest.raises(TransitionNotAllowed):
        invoicing.invoice_mark_paid(invoice=invoice, at=AT)
