"""The reconciliation report: a database where every payment path was used reports nothing;
each kind of disagreement (unmatched transfer, paid at the gateway but not here, amount
mismatches, unapplied payment remainders, a failing gateway) is found. Service, API, admin."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.invoicing.services.credits import credit_note_issue
from billing.invoicing.services.invoices import invoice_create, invoice_finalize, invoice_mark_paid
from billing.models import (
    Gateway,
    Invoice,
    InvoiceLine,
    PaymentAllocation,
    PaymentAttempt,
    SandboxCharge,
)
from billing.payments.gateways.base import Adapter
from billing.payments.services import payments, refunds
from billing.payments.services.bank_transfers import bank_transfer_ignore, bank_transfer_record
from billing.payments.services.reconciliation import reconciliation_report
from billing.tests import factories
from billing.tests.payment_helpers import AT, customer_with_card, open_invoice

pytestmark = pytest.mark.django_db
D = Decimal
API = "/api/v1/reconciliation/"


@pytest.fixture(autouse=True)
def stripe_not_configured(settings):
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_TEST_SECRET_KEY = ""


def report():
    now = timezone.now()
    return reconciliation_report(at=now, since=now - timedelta(hours=1))


def transfer(reference, amount, remittance=""):
    return bank_transfer_record(
        bank_reference=reference,
        amount=D(amount),
        currency="USD",
        received_at=AT,
        remittance=remittance,
        at=AT,
    )[0]


def paid_by_card(external_id="card-co", amount="25.00", token="tok_visa"):  # noqa: S107
    customer, _ = customer_with_card(external_id=external_id, token=token)
    invoice = open_invoice(customer, amount)
    return payments.payment_collect(invoice=invoice, at=AT, source="api"), invoice


class BrokenAdapter(Adapter):
    def charges_list(self, *, since):
        raise KeyError("data")


def test_a_consistent_database_reports_nothing():
    # A card payment, partly refunded.
    payment, _ = paid_by_card()
    refunds.payment_refund(payment=payment, amount=D("5.00"), at=AT)
    # Bank transfers: partial, then over (the rest to the balance), and an ignored one.
    customer = factories.customer(external_id="wire-co")
    invoice = open_invoice(customer, "30.00")
    transfer("TX-1", "10.00", invoice.payment_reference)
    transfer("TX-2", "40.00", invoice.payment_reference)
    bank_transfer_ignore(transfer=transfer("TX-3", "7.00"), at=AT, actor="x", reason="Interest")
    # The balance (20.00) pays the next invoice at finalization, in part.
    line = InvoiceLine(
        customer=customer, currency="USD", kind="one_time", description="Seats", amount=D("50")
    )
    partly = invoice_finalize(
        invoice=invoice_create(customer=customer, currency="USD", lines=[line], at=AT), at=AT
    )
    assert (partly.amount_paid, partly.amount_due) == (D("20.00"), D("30.00"))
    # Credit notes on an open and on a paid invoice; an invoice marked paid by hand.
    credit_note_issue(invoice=partly, at=AT, reason="order_change", lines=None)
    credit_note_issue(invoice=invoice, at=AT, reason="duplicate", lines=None)
    invoice_mark_paid(invoice=open_invoice(factories.customer(external_id="cheque"), "9"), at=AT)

    result = report()
    assert result.clean, result
    assert result.gateways_checked == ["sandbox"]


def test_an_unmatched_transfer_is_reported():
    unmatched = transfer("TX-1", "12.00", "who are you?")
    result = report()
    assert [t.pk for t in result.unmatched_transfers] == [unmatched.pk]
    assert not result.clean


def test_a_charge_the_gateway_made_but_we_did_not_record_as_paid():
    payment, invoice = paid_by_card(token="tok_sandboxTimeout")  # charged, the reply lost
    assert payment.status == "unknown"
    SandboxCharge.objects.create(
        reference="sbx_ch_foreign",
        idempotency_key="not-ours",
        payment_method="sbx_pm_x",
        amount=700,
        currency="USD",
        status="succeeded",
    )
    found = {(f.problem, f.payment_id) for f in report().paid_at_gateway_open_here}
    assert found == {("payment_not_succeeded", payment.pk), ("not_recorded", None)}


def test_a_payment_charged_twice():
    payment, _ = paid_by_card()
    PaymentAttempt.objects.create(
        payment=payment,
        number=2,
        gateway=Gateway.objects.get(code="sandbox"),
        status="error",
        idempotency_key="second-try",
        started_at=AT,
    )
    SandboxCharge.objects.create(
        reference="sbx_ch_again",
        idempotency_key="second-try",
        payment_method="sbx_pm_x",
        amount=2500,
        currency="USD",
        status="succeeded",
    )
    (finding,) = report().paid_at_gateway_open_here
    assert (finding.problem, finding.reference, finding.payment_id) == (
        "charged_twice",
        "sbx_ch_again",
        payment.pk,
    )


def test_a_paid_charge_whose_invoice_is_open_here():
    payment, invoice = paid_by_card()
    Invoice.objects.filter(pk=invoice.pk).update(status="open", amount_due=D("25.00"))
    result = report()
    (finding,) = result.paid_at_gateway_open_here
    assert (finding.problem, finding.invoice_id, finding.invoice_status) == (
        "invoice_open",
        invoice.pk,
        "open",
    )
    assert result.invoice_amount_mismatches == []  # amount_paid still matches its allocation


def test_a_gateway_charge_of_another_amount():
    payment, _ = paid_by_card()
    SandboxCharge.objects.update(amount=2600)
    (finding,) = report().gateway_amount_mismatches
    assert (finding.amount, finding.payment_amount, finding.payment_id) == (
        D("26.00"),
        D("25.00"),
        payment.pk,
    )


def test_an_invoice_whose_amount_paid_is_not_what_was_applied():
    _, invoice = paid_by_card()
    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=D("30.00"))
    (mismatch,) = report().invoice_amount_mismatches
    assert (mismatch.invoice_id, mismatch.allocated, mismatch.difference) == (
        invoice.pk,
        D("25.00"),
        D("5.00"),
    )


def test_a_payment_with_an_unapplied_remainder():
    payment, invoice = paid_by_card()
    PaymentAllocation.objects.filter(payment=payment).update(amount=D("20.00"))
    result = report()
    (unallocated,) = result.unallocated_payments
    assert (unallocated.payment_id, unallocated.remainder) == (payment.pk, D("5.00"))
    assert [m.invoice_id for m in result.invoice_amount_mismatches] == [invoice.pk]


def test_a_failing_gateway_is_reported_not_raised(settings):
    Gateway.objects.filter(code="sandbox").update(options={"outage": True})
    Gateway.objects.create(code="broken", name="Broken", adapter="sandbox", vault="b")
    settings.PAYMENT_ADAPTERS = {"broken": f"{__name__}.BrokenAdapter"}
    result = report()
    errors = {(e.gateway, e.code) for e in result.gateway_errors}
    assert errors == {("sandbox", "outage"), ("broken", "adapter_error")}
    assert result.gateways_checked == []
    assert not result.clean


# --- API and admin ---
def test_the_report_through_the_api(api, read_only_api):
    clean = read_only_api.get(API).json()
    assert (clean["clean"], clean["gateways_checked"]) == (True, ["sandbox"])
    transfer("TX-1", "12.5", "?")
    paid_by_card()
    SandboxCharge.objects.update(amount=2600)
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    data = read_only_api.get(API, {"since": since}).json()
    assert data["clean"] is False
    assert [(t["bank_reference"], t["amount"]) for t in data["unmatched_transfers"]] == [
        ("TX-1", "12.50")
    ]
    (mismatch,) = data["gateway_amount_mismatches"]
    assert (mismatch["amount"], mismatch["payment_amount"], mismatch["problem"]) == (
        "26.00",
        "25.00",
        "amount_mismatch",
    )
    bad = read_only_api.get(API, {"since": "last week"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "since")
    assert read_only_api.get(API, {"sinse": "x"}).status_code == 400


def test_the_report_in_the_admin(admin_client):
    url = reverse("admin:billing_banktransfer_reconciliation")
    assert b"Nothing to reconcile" in admin_client.get(url).content
    transfer("TX-1", "12.00", "?")
    payment, invoice = paid_by_card()
    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=D("30.00"))
    page = admin_client.get(url, {"since": str(timezone.now().date())})
    assert page.status_code == 200
    assert b"TX-1" in page.content
    assert invoice.number.encode() in page.content
    assert b"Nothing to reconcile" not in page.content
    listing = admin_client.get(reverse("admin:billing_banktransfer_changelist"))
    assert url.encode() in listing.content
