"""Credit notes and the customer balance: issue, limits, balance applied to the next invoices,
negative invoices, the API and the admin."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django_fsm import TransitionNotAllowed

from api.errors import StateError
from billing.models import (
    BalanceTransaction,
    BillingEvent,
    CreditNote,
    Invoice,
    InvoiceLine,
)
from billing.models.events import AppendOnlyError
from billing.services import bill_runs, invoicing
from billing.services import credits as c
from billing.services.changes import subscription_change
from billing.tests import factories

pytestmark = pytest.mark.django_db
D = Decimal


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


AT = utc(2027, 3, 1, 12)


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


# --- Helpers ---
def make_invoice(customer, amounts, *, at=AT, finalize=True, currency=None) -> Invoice:
    """An invoice of one-time lines (negative amounts: credit lines), finalized by default."""
    currency = currency or customer.currency
    lines = [
        InvoiceLine(
            customer=customer,
            currency=currency,
            kind="one_time" if D(amount) > 0 else "credit",
            description=f"Item {index + 1}",
            unit_amount=D(amount),
            amount=D(amount),
        )
        for index, amount in enumerate(amounts)
    ]
    with transaction.atomic():
        invoice = invoicing.invoice_create(customer=customer, currency=currency, lines=lines, at=at)
    if finalize:
        invoice = invoicing.invoice_finalize(invoice=invoice, at=at)
    return Invoice.objects.get(pk=invoice.pk)


def paid_invoice(customer, amounts, **kwargs) -> Invoice:
    invoice = make_invoice(customer, amounts, **kwargs)
    return invoicing.invoice_mark_paid(invoice=invoice, at=AT)


def line_ids(invoice) -> list[int]:
    return list(invoice.lines.order_by("position").values_list("pk", flat=True))


def balance(customer, currency="USD") -> Decimal:
    return c.customer_balance(customer, currency)


def refreshed(invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def error_of(exc_info) -> tuple[str, str]:
    ((field, errors),) = exc_info.value.error_dict.items()
    return field, errors[0].code


@pytest.fixture
def customer(db):
    return factories.customer(external_id="acme")


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


# --- API ---
def post(api, url, body):
    return api.post(f"/api/v1/{url}", body, format="json")


@pytest.fixture
def clock():
    with time_machine.travel(AT, tick=False):
        yield


def test_api_issue_full_and_partial_credit_notes(api, customer, clock):
    invoice = paid_invoice(customer, ["30.00", "20.00"])
    first, second = line_ids(invoice)
    response = post(
        api,
        "credit-notes/",
        {
            "invoice": invoice.number,
            "reason": "order_change",
            "lines": [{"line": second, "amount": "20.00"}],
            "refund": "5.00",
            "memo": "Seat removed",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("number", "customer", "invoice", "currency", "reason")} == {
        "number": "CN-2027-000001",
        "customer": "acme",
        "invoice": invoice.number,
        "currency": "USD",
        "reason": "order_change",
    }
    assert (body["total"], body["refund_amount"], body["credit_amount"]) == (
        "20.00",
        "5.00",
        "15.00",
    )
    assert body["lines"] == [
        {
            "id": body["lines"][0]["id"],
            "invoice_line": second,
            "description": "Item 2",
            "amount": "20.00",
        }
    ]
    full = post(api, "credit-notes/", {"invoice": str(invoice.pk), "reason": "other"})
    assert full.status_code == 201, full.json()
    assert full.json()["total"] == "30.00"

    listed = api.get("/api/v1/credit-notes/", {"invoice": invoice.number}).json()["results"]
    assert [n["number"] for n in listed] == ["CN-2027-000001", "CN-2027-000002"]
    assert len(api.get("/api/v1/credit-notes/", {"customer": "acme"}).json()["results"]) == 2
    assert api.get("/api/v1/credit-notes/", {"customer": "nobody"}).json()["results"] == []
    by_number = api.get("/api/v1/credit-notes/CN-2027-000002/")
    assert by_number.json()["id"] == full.json()["id"]

    balances = api.get("/api/v1/balances/", {"customer": "acme"}).json()
    assert balances["customer"] == "acme"
    assert balances["balances"] == [{"currency": "USD", "amount": "45.00"}]
    assert [(t["kind"], t["amount"], t["credit_note"]) for t in balances["transactions"]] == [
        ("credit_note", "30.00", "CN-2027-000002"),
        ("credit_note", "15.00", "CN-2027-000001"),
    ]
    by_id = api.get("/api/v1/balances/", {"customer": str(customer.pk)}).json()
    assert by_id["balances"] == balances["balances"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"reason": "because"}, "reason", "invalid_choice"),
        ({"invoice": "INV-nope"}, "invoice", "does_not_exist"),
        ({"lines": [{"line": 0, "amount": "1"}]}, "lines.0.line", "min_value"),
        ({"lines": [{"line": "LINE", "amount": "30.01"}]}, "lines.0.amount", "exceeds_creditable"),
        ({"lines": [{"line": "LINE", "amount": "-1"}]}, "lines.0.amount", "min_value"),
        ({"refund": "0.01"}, "refund", "exceeds_paid"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_api_invalid_credit_note_is_400(api, customer, body, field, code):
    invoice = make_invoice(customer, ["30.00"])
    (line,) = line_ids(invoice)
    if "lines" in body:
        body["lines"] = [
            {**ln, "line": line if ln["line"] == "LINE" else ln["line"]} for ln in body["lines"]
        ]
    response = post(api, "credit-notes/", {"invoice": invoice.number, "reason": "other", **body})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)
    assert not CreditNote.objects.exists()


def test_api_credit_note_on_a_draft_is_422(api, customer):
    invoice = make_invoice(customer, ["30.00"], finalize=False)
    response = post(api, "credit-notes/", {"invoice": str(invoice.pk), "reason": "other"})
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["code"] == "invoice_not_creditable"


def test_api_unknown_objects_are_404(api, customer):
    response = api.get("/api/v1/credit-notes/CN-2027-999999/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert api.get("/api/v1/balances/", {"customer": "nobody"}).status_code == 404
    missing = api.get("/api/v1/balances/")
    assert missing.status_code == 400
    assert (missing.json()["error"]["field"], missing.json()["error"]["code"]) == (
        "customer",
        "required",
    )


def test_api_read_only_key_cannot_issue(read_only_api, customer):
    invoice = make_invoice(customer, ["30.00"])
    response = read_only_api.post(
        "/api/v1/credit-notes/", {"invoice": invoice.number, "reason": "other"}, format="json"
    )
    assert response.status_code == 403


# --- Admin ---
def test_admin_credit_note_pages_are_read_only(admin_client, customer):
    invoice = paid_invoice(customer, ["30.00"])
    note = c.credit_note_issue(invoice=invoice, at=AT, reason="other")
    changelist = admin_client.get(reverse("admin:billing_creditnote_changelist"), {"q": "CN"})
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == 1
    page = admin_client.get(reverse("admin:billing_creditnote_change", args=[note.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(reverse("admin:billing_creditnote_add")).status_code == 403
    entries = admin_client.get(
        reverse("admin:billing_balancetransaction_changelist"), {"kind": "credit_note"}
    )
    assert entries.context["cl"].result_count == 1


def test_admin_balance_adjustment_goes_through_the_service(admin_client, customer):
    url = reverse("admin:billing_balancetransaction_add")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {"customer": customer.pk, "currency": "USD", "amount": "12.50", "description": "Goodwill"},
    )
    assert response.status_code == 302
    entry = BalanceTransaction.objects.get()
    assert (entry.kind, entry.amount) == ("adjustment", D("12.50"))
    assert BillingEvent.objects.filter(kind="balance.adjusted").exists()
    refused = admin_client.post(
        url,
        {"customer": customer.pk, "currency": "USD", "amount": "-20", "description": "Oops"},
        follow=True,
    )
    assert "below 0" in refused.content.decode()
    assert BalanceTransaction.objects.count() == 1
    change = reverse("admin:billing_balancetransaction_change", args=[entry.pk])
    assert 'name="_save"' not in admin_client.get(change).content.decode()


def test_mark_paid_after_a_credit_is_not_allowed_twice(customer):
    invoice = make_invoice(customer, ["30.00"])
    c.credit_note_issue(invoice=invoice, at=AT, reason="other")
    with pytest.raises(TransitionNotAllowed):
        invoicing.invoice_mark_paid(invoice=invoice, at=AT)
