"""Bank transfers: recording, automatic matching by payment reference, invoice number or
customer id, exact, partial and over payments, several invoices at once, staff matching and
ignoring, and the CSV bank statement import (service and management command)."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, transaction

from api.errors import StateError
from billing.invoicing.services.credits import customer_balance
from billing.invoicing.services.references import payment_reference_for
from billing.models import (
    BalanceTransaction,
    BankTransfer,
    BillingEvent,
    Invoice,
    InvoiceStatus,
    Payment,
)
from billing.payments.services import bank_transfers as bt
from billing.payments.services.bank_statements import bank_statement_import, parse_statement_amount
from billing.tests import factories
from billing.tests.payment_helpers import AT, open_invoice

pytestmark = pytest.mark.django_db
D = Decimal
RECEIVED = datetime(2026, 3, 12, 9, tzinfo=UTC)


def record(amount, remittance="", reference="TX-1", currency="USD", **kwargs):
    return bt.bank_transfer_record(
        bank_reference=reference,
        amount=D(amount),
        currency=currency,
        received_at=RECEIVED,
        payer_name="ACME Corp",
        remittance=remittance,
        at=AT,
        **kwargs,
    )


def spaced(reference: str) -> str:
    """As people type it: "RF18 INV2 0260 ..."."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))


def kinds(transfer) -> list[str]:
    events = BillingEvent.objects.filter(subject_type="billing.banktransfer")
    return list(events.filter(subject_id=str(transfer.pk)).values_list("kind", flat=True))


@pytest.fixture
def customer():
    return factories.customer(external_id="acme-42")


@pytest.fixture
def invoice(customer):
    return open_invoice(customer, "25.00")


# --- Automatic matching ---
@pytest.mark.parametrize(
    ("amount", "status", "paid", "due", "balance"),
    [
        ("25.00", InvoiceStatus.PAID, "25.00", "0", "0"),  # exact
        ("10.00", InvoiceStatus.OPEN, "10.00", "15.00", "0"),  # partial: stays open
        ("40.00", InvoiceStatus.PAID, "25.00", "0", "15.00"),  # over: the rest to the balance
    ],
)
def test_a_transfer_quoting_the_payment_reference_pays_the_invoice(
    customer, invoice, amount, status, paid, due, balance
):
    transfer, created = record(amount, f"Invoice {spaced(invoice.payment_reference)} thanks")
    invoice.refresh_from_db()
    assert created
    assert (transfer.status, transfer.customer, transfer.payment.status) == (
        "matched",
        customer,
        "succeeded",
    )
    payment = transfer.payment
    assert (payment.amount, payment.source, payment.gateway.code) == (
        D(amount),
        "bank_transfer",
        "bank_transfer",
    )
    assert payment.gateway_reference == "TX-1"
    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (status, D(paid), D(due))
    assert customer_balance(customer, "USD") == D(balance)
    assert kinds(transfer) == ["bank_transfer.received", "bank_transfer.matched"]
    matched = BillingEvent.objects.get(kind="bank_transfer.matched")
    assert matched.payload["invoices"] == [invoice.number]
    assert matched.payload["amount"] == f"{D(amount):.2f}"


def test_one_transfer_pays_several_invoices_in_the_order_quoted(customer):
    first = open_invoice(customer, "25.00")
    second = open_invoice(customer, "30.00")
    remittance = f"{second.payment_reference}, {first.payment_reference}"
    transfer, _ = record("40.00", remittance)
    first.refresh_from_db()
    second.refresh_from_db()
    assert transfer.status == "matched"
    allocations = [(a.invoice_id, a.amount) for a in transfer.payment.allocations.order_by("pk")]
    assert allocations == [(second.pk, D("30.00")), (first.pk, D("10.00"))]
    assert (second.status, first.status, first.amount_due) == ("paid", "open", D("15.00"))


def test_a_transfer_for_a_paid_invoice_goes_to_the_balance(customer, invoice):
    record("25.00", invoice.payment_reference, reference="TX-1")
    transfer, _ = record("25.00", invoice.payment_reference, reference="TX-2")
    assert transfer.status == "matched"
    assert not transfer.payment.allocations.exists()
    assert customer_balance(customer, "USD") == D("25.00")


@pytest.mark.parametrize(
    "quote",
    [
        lambda number: f"Invoice {number}",  # as the PDF and email show it
        lambda number: f"inv {number.replace('-', ' ').lower()}",  # "inv inv 2026 000001"
        lambda number: number.replace("-", ""),  # "INV2026000001"
    ],
)
def test_a_transfer_quoting_the_invoice_number_pays_it(customer, invoice, quote):
    other = open_invoice(customer, "30.00")
    transfer, _ = record("25.00", quote(invoice.number))
    invoice.refresh_from_db()
    other.refresh_from_db()
    assert (transfer.status, transfer.customer) == ("matched", customer)
    assert (invoice.status, other.status) == ("paid", "open")
    matched = BillingEvent.objects.get(kind="bank_transfer.matched")
    assert matched.payload["invoices"] == [invoice.number]


def test_the_number_or_reference_may_be_in_the_bank_reference(customer, invoice):
    """A payer-set end-to-end id (the statement's reference column) counts too."""
    other = open_invoice(customer, "30.00")
    by_number, _ = record("25.00", "", reference=f"E2E {invoice.number}")
    by_reference, _ = record("30.00", "March", reference=other.payment_reference)
    invoice.refresh_from_db()
    other.refresh_from_db()
    assert (by_number.status, by_reference.status) == ("matched", "matched")
    assert (invoice.status, other.status) == ("paid", "paid")


def test_invoice_numbers_of_two_customers_match_nothing(customer, invoice):
    other = open_invoice(factories.customer(external_id="globex"), "10.00")
    transfer, _ = record("35.00", f"{invoice.number} and {other.number}")
    assert transfer.status == "unmatched"


def test_a_customer_id_in_the_remittance_pays_its_oldest_open_invoices(customer, invoice):
    later = open_invoice(customer, "30.00", at=datetime(2026, 3, 11, tzinfo=UTC))
    transfer, _ = record("30.00", "Payment from ACME-42 for March")
    invoice.refresh_from_db()
    later.refresh_from_db()
    assert (transfer.status, transfer.customer) == ("matched", customer)
    assert (invoice.status, later.amount_due) == ("paid", D("25.00"))


@pytest.mark.parametrize(
    "remittance",
    [
        "RF18 INV20269999999",  # not a valid reference
        payment_reference_for("INV-2026-999999"),  # valid, but no invoice has it
        "Thanks for everything",
        "",
    ],
)
def test_a_transfer_naming_nobody_stays_unmatched(customer, invoice, remittance):
    transfer, created = record("25.00", remittance)
    assert created
    assert (transfer.status, transfer.customer, transfer.payment) == ("unmatched", None, None)
    assert not Payment.objects.exists()
    assert kinds(transfer) == ["bank_transfer.received"]


def test_references_of_two_customers_or_another_currency_match_nothing(customer, invoice):
    other = open_invoice(factories.customer(external_id="globex"), "10.00")
    transfer, _ = record("35.00", f"{invoice.payment_reference} {other.payment_reference}")
    assert transfer.status == "unmatched"
    euro, _ = record("25.00", invoice.payment_reference, reference="TX-2", currency="EUR")
    assert euro.status == "unmatched"


def test_matching_twice_changes_nothing(customer, invoice):
    transfer, _ = record("25.00", invoice.payment_reference)
    again = bt.bank_transfer_match(transfer=transfer, at=AT)
    assert again.payment == transfer.payment
    assert Payment.objects.count() == 1


# --- Recording ---
def test_the_same_transfer_again_is_the_one_recorded(customer, invoice):
    first, _ = record("25.00", invoice.payment_reference)
    again, created = record("25.00", invoice.payment_reference, statement="other.csv")
    assert (again.pk, created) == (first.pk, False)
    assert (Payment.objects.count(), BankTransfer.objects.count()) == (1, 1)
    with pytest.raises(ValidationError) as error:
        record("26.00", invoice.payment_reference)
    assert error.value.error_dict["bank_reference"][0].code == "duplicate_reference"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"amount": D("0")}, "amount", "min_value"),
        ({"amount": D("-5.00")}, "amount", "min_value"),
        ({"amount": D("10.005")}, "amount", "too_many_decimal_places"),
        ({"amount": D("10.5"), "currency": "JPY"}, "amount", "too_many_decimal_places"),
        ({"currency": "XYZ"}, "currency", "invalid_currency"),
        ({"received_at": datetime(2026, 3, 12)}, "received_at", "invalid"),  # noqa: DTZ001
        ({"bank_reference": "  "}, "bank_reference", "required"),
    ],
)
def test_bad_transfers_are_refused(changes, field, code):
    values = {
        "bank_reference": "TX-1",
        "amount": D("10.00"),
        "currency": "USD",
        "received_at": RECEIVED,
        **changes,
    }
    with pytest.raises(ValidationError) as error:
        bt.bank_transfer_record(**values, at=AT)
    assert error.value.error_dict[field][0].code == code
    assert not BankTransfer.objects.exists()


def test_a_kwd_transfer_keeps_three_decimal_places():
    transfer, _ = record("12.345", currency="KWD")
    assert transfer.amount == D("12.345")


# --- Staff: match by hand, ignore ---
def test_staff_match_a_transfer_to_a_customer_and_its_invoices(customer, invoice, admin_user):
    second = open_invoice(customer, "30.00")
    transfer, _ = record("30.00", "no reference")
    transfer = bt.bank_transfer_assign(
        transfer=transfer, customer=customer, invoices=[second], at=AT, actor=admin_user
    )
    second.refresh_from_db()
    invoice.refresh_from_db()
    assert (transfer.status, second.status, invoice.status) == ("matched", "paid", "open")
    event = BillingEvent.objects.get(kind="bank_transfer.matched")
    assert (event.payload["by"], event.actor) == ("staff", f"user:{admin_user.pk}:admin")
    with pytest.raises(StateError):
        bt.bank_transfer_assign(transfer=transfer, customer=customer, at=AT, actor=admin_user)


def test_staff_cannot_pay_another_customers_invoice(customer, invoice):
    other = factories.customer(external_id="globex")
    transfer, _ = record("25.00")
    with pytest.raises(ValidationError) as error:
        bt.bank_transfer_assign(
            transfer=transfer, customer=other, invoices=[invoice], at=AT, actor="staff"
        )
    assert "invoices.0" in error.value.error_dict
    assert BankTransfer.objects.get().status == "unmatched"
    assert not Payment.objects.exists()


def test_ignore_an_unmatched_transfer(customer):
    transfer, _ = record("99.00", "Supplier refund")
    with pytest.raises(ValidationError):
        bt.bank_transfer_ignore(transfer=transfer, at=AT, actor="staff", reason=" ")
    transfer = bt.bank_transfer_ignore(
        transfer=transfer, at=AT, actor="staff", reason="Supplier refund"
    )
    assert transfer.status == "ignored"
    assert kinds(transfer)[-1] == "bank_transfer.ignored"
    with pytest.raises(StateError):
        bt.bank_transfer_ignore(transfer=transfer, at=AT, actor="staff", reason="again")
    # An ignored transfer can still be matched by hand afterwards.
    transfer = bt.bank_transfer_assign(transfer=transfer, customer=customer, at=AT, actor="x")
    assert transfer.status == "matched"


# --- Statement import ---
GERMAN_HEADER = "Booking Date;Betrag;Currency;Transaction ID;Verwendungszweck;Payer;IBAN"


def statement(*rows, header=GERMAN_HEADER):
    return "\n".join([header, *rows]).encode("utf-8-sig")


def test_a_statement_with_good_and_bad_rows(customer, invoice):
    file = statement(
        f"2026-03-12;25,00;USD;TX-1;{invoice.payment_reference};ACME Corp;DE89370400440532013000",
        "2026-03-12;1.234,50;EUR;TX-2;unknown payer;Someone;",
        "12/03/2026;10,00;USD;TX-3;bad date;;",
        "2026-03-12;ten;USD;TX-4;bad amount;;",
        "2026-03-12;-50,00;USD;TX-5;outgoing rent;Landlord;",
        "2026-03-12;10,005;USD;TX-6;too precise;;",
        "2026-03-12;10,00;USD;;no reference;;",
        "",
        "2026-03-13T10:30:00+01:00;5,00;ABC;TX-7;bad currency;;",
    )
    result = bank_statement_import(file=file, filename="march.csv", at=AT)
    assert (result.created, result.matched, result.duplicates) == (2, 1, 0)
    assert result.skipped == [(6, "Outgoing payment (negative amount): skipped.")]
    assert [row for row, _ in result.errors] == [4, 5, 7, 8, 10]
    assert "not an ISO date" in result.errors[0][1]
    assert "decimal places" in result.errors[2][1]
    assert set(BankTransfer.objects.values_list("bank_reference", flat=True)) == {"TX-1", "TX-2"}
    euro = BankTransfer.objects.get(bank_reference="TX-2")
    assert (euro.amount, euro.currency, euro.status, euro.statement) == (
        D("1234.50"),
        "EUR",
        "unmatched",
        "march.csv",
    )
    matched = BankTransfer.objects.get(bank_reference="TX-1")
    assert matched.payer_account == "DE89370400440532013000"
    assert matched.received_at == RECEIVED.replace(hour=0)
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_importing_a_statement_twice_changes_nothing(customer, invoice):
    file = statement(
        f"2026-03-12;25.00;USD;TX-1;{invoice.payment_reference};ACME;",
        "2026-03-12;8.00;USD;TX-2;who?;;",
    )
    first = bank_statement_import(file=file, filename="a.csv", at=AT)
    events = BillingEvent.objects.count()
    again = bank_statement_import(file=file, filename="a-again.csv", at=AT)
    assert (first.created, first.duplicates) == (2, 0)
    assert (again.created, again.duplicates, again.matched, again.errors) == (0, 2, 0, [])
    assert (Payment.objects.count(), BillingEvent.objects.count()) == (1, events)
    assert BalanceTransaction.objects.count() == 0


def test_a_statement_without_the_needed_columns_imports_nothing():
    file = b"Date,Amount\n2026-03-12,10.00\n"
    result = bank_statement_import(file=file, filename="x.csv", at=AT)
    assert result.errors == [(1, "Missing column(s): currency, reference.")]
    assert not BankTransfer.objects.exists()


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1234.56", "1234.56"),
        ("1234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1.234.567", "1234567"),
        ("+12", "12"),
        ("-12.50", "-12.50"),
        ("0,125", "0.125"),
    ],
)
def test_statement_amounts(text, amount):
    assert parse_statement_amount(text) == D(amount)


def test_the_management_command_prints_the_result(tmp_path, capsys, customer, invoice):
    path = tmp_path / "april.csv"
    path.write_bytes(
        b"date,amount,currency,reference,description\n"
        + f"2026-04-01,25.00,USD,TX-9,{invoice.payment_reference}\n".encode()
        + b"2026-04-01,abc,USD,TX-10,x\n"
    )
    call_command("bank_statement_import", str(path))
    out, err = capsys.readouterr()
    assert "april.csv: 1 new transfer(s), 1 matched, 0 recorded before" in out
    assert "row 3: 'abc' is not an amount." in err
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_transfer_make_one_payment():
    with transaction.atomic():
        invoice = open_invoice(factories.customer(external_id="acme-42"), "25.00")
    workers, created, errors = 8, [], []
    barrier = threading.Barrier(workers)

    def deliver():
        try:
            barrier.wait()
            transfer, new = record("25.00", invoice.payment_reference)
            bt.bank_transfer_match(transfer=transfer, at=AT)
            created.append(new)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created) == [False] * (workers - 1) + [True]
    assert (BankTransfer.objects.count(), Payment.objects.count()) == (1, 1)
    assert Invoice.objects.get(pk=invoice.pk).amount_paid == D("25.00")


def test_a_file_that_is_not_csv_is_reported_not_raised():
    from billing.payments.services.bank_statements import bank_statement_import

    result = bank_statement_import(
        file=b'date,amount\r"x\ry', filename="x.csv", at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert result.errors
    assert result.errors[0][0] == 1
