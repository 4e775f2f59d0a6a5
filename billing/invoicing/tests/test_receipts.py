"""What an invoice email says when the invoice is collected from a card, and the receipt sent
once when it is paid (billing.invoicing.services.documents)."""

import pytest

from billing.events import services as events
from billing.invoicing.services.documents import (
    invoice_email_build,
    invoice_email_send,
    invoice_pdf_context,
    invoice_receipt_send,
)
from billing.invoicing.services.invoices import invoice_mark_paid
from billing.invoicing.tasks import invoice_email_send_task, invoice_receipt_send_task
from billing.models import BillingEvent
from billing.payments.services.payments import payment_collect
from billing.tests import factories
from billing.tests.payment_helpers import AT, customer_with_card, open_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """The tasks queued through billing.events.services (the receipt task)."""
    calls = []
    monkeypatch.setattr(events, "async_task", lambda path, **kw: calls.append((path, kw)))
    return calls


def test_an_invoice_charged_to_a_card_is_announced_then_receipted_once(
    mailoutbox, queued, django_capture_on_commit_callbacks
):
    customer, _ = customer_with_card("massive")
    invoice = open_invoice(customer, "99.00")

    with django_capture_on_commit_callbacks(execute=True):
        invoice_email_send(invoice_id=invoice.pk)
    [notice] = mailoutbox
    assert "It will be charged to your Visa card ending 4242: there is nothing to do." in (
        notice.body
    )
    assert "Please pay" not in notice.body
    assert "Payment reference" not in notice.body
    assert invoice_pdf_context(invoice=invoice)["autopay"] == "your Visa card ending 4242"

    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_collect(invoice=invoice, at=AT)
    assert payment.status == "succeeded"
    receipt_task = ("billing.invoicing.tasks.invoice_receipt_send_task", {"invoice_id": invoice.pk})
    assert queued == [receipt_task]  # queued by the invoice.paid event

    with django_capture_on_commit_callbacks(execute=True):
        invoice_receipt_send_task(invoice.pk)
        invoice_receipt_send(invoice_id=invoice.pk)  # a second worker: nothing more
        invoice_email_send_task(invoice.pk)
    assert len(mailoutbox) == 2
    receipt = mailoutbox[1]
    assert receipt.subject == f"Receipt: invoice {invoice.number} from Example Billing Ltd is paid"
    assert (
        f"Paid — thank you. We received 99.00 USD for invoice {invoice.number} from Example "
        "Billing Ltd on 10 Mar 2026, charged to your Visa card ending 4242."
    ) in receipt.body
    assert "Amount paid: 99.00 USD" in receipt.body
    assert "Please pay" not in receipt.body
    [(filename, content, _)] = receipt.attachments
    assert filename == f"{invoice.number}.pdf"
    assert content.startswith(b"%PDF-")
    assert BillingEvent.objects.filter(kind="invoice.receipt_sent").count() == 1


def test_an_invoice_paid_before_its_email_goes_out_gets_only_the_receipt(
    mailoutbox, queued, django_capture_on_commit_callbacks
):
    customer = factories.customer(external_id="acme")
    invoice = open_invoice(customer, "25.00")
    invoice_mark_paid(invoice=invoice, at=AT)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_email_send_task(invoice.pk)  # the finalization email, queued before
        invoice_receipt_send_task(invoice.pk)  # the receipt, queued on invoice.paid
    [mail] = mailoutbox
    assert mail.subject.startswith("Receipt: invoice")
    assert "Paid — thank you. We received 25.00 USD" in mail.body
    assert not BillingEvent.objects.filter(kind="invoice.email_sent").exists()


def test_an_open_invoice_without_a_card_asks_for_a_transfer_quoting_the_reference():
    invoice = open_invoice(factories.customer(external_id="acme"), "25.00")
    body = invoice_email_build(invoice).body
    assert "It will be charged" not in body
    assert f"Payment reference: {invoice.payment_reference}" in body
    assert invoice.payment_reference.startswith("RF")


def test_after_a_declined_charge_the_email_asks_to_pay(mailoutbox):
    customer, _ = customer_with_card("dunder", token="tok_chargeDeclined")  # noqa: S106
    invoice = open_invoice(customer, "25.00")
    assert payment_collect(invoice=invoice, at=AT).status == "failed"
    body = invoice_email_build(invoice).body
    assert "It will be charged" not in body
    assert f"Payment reference: {invoice.payment_reference}" in body
