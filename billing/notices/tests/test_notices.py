"""Every customer notice: sent once per event (a second trigger sends nothing), from its
templates (HTML and text), with the seller's identity, amounts and days as the invoice PDF
formats them, opt-out respected for the optional kinds only, the PDF attached to the
receipt and the invoice mail."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from billing.events import services as events
from billing.events.services import billing_event_record
from billing.invoicing.services.documents import invoice_email_send, invoice_receipt_send
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import BillingEvent, Invoice, PaymentMethod
from billing.notices.services import notices_events_consume_all, notices_scheduled_send
from billing.payments.services.methods import payment_methods_expiring_notify
from billing.payments.services.payments import payment_collect
from billing.tests import factories
from billing.tests.payment_helpers import AT, card, customer_with_card, open_invoice
from customers.models import Notice, NoticeKind, NoticeStatus

pytestmark = pytest.mark.django_db

SELLER = {
    "name": "Seller GmbH",
    "address": ["Hauptstraße 1", "10115 Berlin"],
    "email": "invoices@seller.example",
    "tax_id": "DE123456789",
}


@pytest.fixture(autouse=True)
def seller_and_site(settings):
    settings.INVOICE_SELLER = SELLER
    settings.SITE_URL = "https://billing.example.com/"
    settings.PAYMENT_FRAUD = {**settings.PAYMENT_FRAUD, "amount_limits": {}}
    settings.PAYMENT_METHOD_EXPIRY_NOTICE_DAYS = 40


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """Tasks queued on commit (receipts, consumers) are not run: the tests call them."""
    monkeypatch.setattr(events, "async_task", lambda *args, **kwargs: None)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Call `function(**kwargs)` and run what waits for the commit (the mails)."""

    def call(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    return call


@pytest.fixture
def consume(run):
    """The notices consumer reading the billing event log now."""
    return lambda: run(notices_events_consume_all, at=timezone.now())


def html_of(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def assert_seller(message) -> None:
    """The seller's identity in both parts; replies go to the seller."""
    assert message.reply_to == ["invoices@seller.example"]
    assert "Seller GmbH\nHauptstraße 1\n10115 Berlin\nTax ID: DE123456789" in message.body
    html = html_of(message)
    assert "<div>Hauptstraße 1</div>" in html
    assert "Tax ID: DE123456789" in html


def only_notice(kind: str) -> Notice:
    [notice] = Notice.objects.filter(kind=kind)
    return notice


# Receipt and invoice issued (billing.invoicing.services.documents)
@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [
        ("USD", "1234.50", "1,234.50 USD"),
        ("EUR", "1234.50", "1,234.50 EUR"),
        ("JPY", "123450", "123,450 JPY"),
        ("KWD", "12.345", "12.345 KWD"),
    ],
)
def test_receipt_once_with_the_paid_pdf(run, mailoutbox, currency, amount, shown):
    customer, _ = customer_with_card(currency=currency, timezone="Asia/Tokyo")
    invoice = open_invoice(customer, amount)
    run(invoice_email_send, invoice_id=invoice.pk)
    assert run(payment_collect, invoice=invoice, at=AT).status == "succeeded"
    run(invoice_receipt_send, invoice_id=invoice.pk)
    run(invoice_receipt_send, invoice_id=invoice.pk)  # a second worker: nothing more
    issued, receipt = mailoutbox
    invoice.refresh_from_db()
    assert receipt.subject == f"Receipt: invoice {invoice.number} from Seller GmbH is paid"
    assert f"We received {shown} for invoice {invoice.number}" in receipt.body
    assert "on 10 Mar 2026" in receipt.body  # 12:00 UTC is 21:00 in Tokyo: the same day
    assert f"Reference: {invoice.payment_reference}" in receipt.body
    html = html_of(receipt)
    assert f"<strong>{shown}</strong>" in html
    assert invoice.payment_reference in html
    assert_seller(receipt)
    [(filename, content, mimetype)] = receipt.attachments
    assert (filename, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    notice = only_notice(NoticeKind.RECEIPT)
    assert notice.status == NoticeStatus.SENT
    assert notice.attachments == [f"{invoice.number}.pdf"]
    assert notice.related == f"invoice {invoice.number}"
    assert BillingEvent.objects.filter(kind="invoice.receipt_sent").count() == 1


def test_invoice_issued_once_with_pdf_and_payment_reference(run, mailoutbox):
    customer = factories.customer(external_id="acme", currency="EUR", timezone="Europe/Berlin")
    invoice = open_invoice(customer, "1234.50")
    run(invoice_email_send, invoice_id=invoice.pk)
    run(invoice_email_send, invoice_id=invoice.pk)
    [message] = mailoutbox
    assert message.subject == f"Invoice {invoice.number} from Seller GmbH"
    assert "Amount due: 1,234.50 EUR" in message.body
    assert "Due date: 24 Mar 2026" in message.body
    assert f"Payment reference: {invoice.payment_reference}" in message.body
    html = html_of(message)
    assert "1,234.50 EUR" in html
    assert invoice.payment_reference in html
    assert "24 Mar 2026" in html
    assert_seller(message)
    [(_, content, _)] = message.attachments
    assert content.startswith(b"%PDF")
    assert only_notice(NoticeKind.INVOICE_ISSUED).status == NoticeStatus.SENT

    run(invoice_email_send, invoice_id=invoice.pk, resend=True)  # staff: every time
    assert len(mailoutbox) == 2
    assert Notice.objects.filter(kind=NoticeKind.INVOICE_ISSUED).count() == 2


def test_invoice_delivered_in_the_portal_only_is_not_mailed_but_recorded(run, mailoutbox):
    customer = factories.customer(external_id="portal")
    customer.invoice_delivery = "portal"
    customer.save()
    invoice = open_invoice(customer, "10.00")
    run(invoice_email_send, invoice_id=invoice.pk)
    assert mailoutbox == []
    assert only_notice(NoticeKind.INVOICE_ISSUED).status == NoticeStatus.SKIPPED_PORTAL_ONLY
    run(invoice_email_send, invoice_id=invoice.pk, resend=True)  # staff may still send it
    assert len(mailoutbox) == 1


def test_an_invoice_paid_at_finalization_gets_the_receipt_only(run, mailoutbox):
    customer = factories.customer(external_id="zero")
    invoice = open_invoice(customer, "0.00")
    assert invoice.status == "paid"
    run(invoice_email_send, invoice_id=invoice.pk)  # the task queued by the finalization
    run(invoice_receipt_send, invoice_id=invoice.pk)  # the task queued by invoice.paid
    [message] = mailoutbox
    assert message.subject.startswith("Receipt: invoice")
    assert "Please pay" not in message.body
    assert "Amount due" not in message.body
    assert list(Notice.objects.values_list("kind", flat=True)) == [NoticeKind.RECEIPT]


# Payment failed
def test_payment_failed_once_with_a_link_to_update_the_card(run, consume, mailoutbox):
    customer, _ = customer_with_card(
        "dunder",
        token="tok_chargeDeclinedInsufficientFunds",  # noqa: S106
        currency="EUR",
        timezone="Europe/Berlin",
    )
    invoice = open_invoice(customer, "1234.50")
    assert run(payment_collect, invoice=invoice, at=AT).status == "failed"
    consume()
    consume()
    [message] = mailoutbox
    invoice.refresh_from_db()
    assert message.subject == f"Payment of 1,234.50 EUR for invoice {invoice.number} failed"
    assert "We could not charge 1,234.50 EUR to your Visa card ending 9995" in message.body
    assert "on 10 Mar 2026 (insufficient funds)" in message.body
    url = "https://billing.example.com/portal/payment-methods/"
    assert f"Please update your payment method: {url}" in message.body
    assert f"Payment reference: {invoice.payment_reference}" in message.body
    html = html_of(message)
    assert f'href="{url}"' in html
    assert "Update your payment method" in html
    assert_seller(message)
    notice = only_notice(NoticeKind.PAYMENT_FAILED)
    assert notice.status == NoticeStatus.SENT
    assert notice.recipients == [customer.email]


def test_payment_failed_is_not_sent_when_the_invoice_got_paid_meanwhile(run, consume, mailoutbox):
    from billing.invoicing.services.invoices import invoice_mark_paid

    customer, _ = customer_with_card("late", token="tok_chargeDeclined")  # noqa: S106
    invoice = open_invoice(customer, "20.00")
    run(payment_collect, invoice=invoice, at=AT)
    run(invoice_mark_paid, invoice=Invoice.objects.get(pk=invoice.pk), at=AT)
    consume()
    assert not Notice.objects.filter(kind=NoticeKind.PAYMENT_FAILED).exists()


# Trial ending, yearly renewal (the calendar)
def test_trial_ending_three_days_before_says_whether_a_card_is_on_file(run, mailoutbox):
    plan = factories.plan(code="pro", amount="99.00", currency="JPY", trial_days=14)
    with_card = factories.customer(external_id="carded", currency="JPY", timezone="Asia/Tokyo")
    card(with_card)
    without = factories.customer(external_id="cardless", currency="JPY", timezone="Asia/Tokyo")
    start = datetime(2027, 1, 1, tzinfo=UTC)
    subs = [factories.subscription(customer=c, plan=plan, at=start) for c in (with_card, without)]
    trial_end = subs[0].trial_end_at
    assert run(notices_scheduled_send, at=trial_end - timedelta(days=4))["trial_ending"] == 0
    at = trial_end - timedelta(days=2, hours=23)
    assert run(notices_scheduled_send, at=at)["trial_ending"] == 2
    assert run(notices_scheduled_send, at=at + timedelta(hours=1))["trial_ending"] == 0
    carded, cardless = sorted(mailoutbox, key=lambda m: m.to[0])
    day = "15 Jan 2027"  # the trial ends 15 Jan 00:00 UTC, 09:00 in Tokyo
    assert carded.subject == f"Your Pro trial ends on {day}"
    assert "We will then charge 99 JPY to your Visa card ending 4242" in carded.body
    assert "There is no card on file" in cardless.body
    assert "https://billing.example.com/portal/payment-methods/" in cardless.body
    assert "no card on file" in html_of(cardless)
    assert "99 JPY" in html_of(carded)
    assert_seller(carded)


def test_renewal_of_yearly_plans_seven_days_before_once(run, mailoutbox):
    yearly = factories.plan(code="annual", amount="1188.00", currency="EUR", interval="year")
    monthly = factories.plan(code="monthly", amount="99.00", currency="EUR")
    customer, _ = customer_with_card("yearly", currency="EUR")
    other = factories.customer(external_id="monthly", currency="EUR")
    start = datetime(2027, 1, 1, tzinfo=UTC)
    sub = factories.subscription(customer=customer, plan=yearly, at=start)
    monthly_sub = factories.subscription(customer=other, plan=monthly, at=start)
    renewal = sub.current_period_end
    assert renewal == datetime(2028, 1, 1, tzinfo=UTC)
    at = renewal - timedelta(days=6)
    assert run(notices_scheduled_send, at=at)["renewal_upcoming"] == 1
    assert run(notices_scheduled_send, at=at + timedelta(days=1))["renewal_upcoming"] == 0
    assert run(notices_scheduled_send, at=monthly_sub.current_period_end - timedelta(days=1)) == {
        "trial_ending": 0,
        "renewal_upcoming": 0,
    }
    [message] = mailoutbox
    assert message.subject == "Your Annual subscription renews on 1 Jan 2028"
    assert "at 1,188.00 EUR" in message.body
    assert "It will be charged to your Visa card ending 4242." in message.body
    assert "1,188.00 EUR" in html_of(message)
    assert_seller(message)


def test_renewal_notice_respects_the_opt_out(run, mailoutbox):
    yearly = factories.plan(code="annual", amount="100.00", interval="year")
    customer = factories.customer(external_id="quiet")
    customer.notices_opted_out = [NoticeKind.RENEWAL_UPCOMING]
    customer.save()
    sub = factories.subscription(
        customer=customer, plan=yearly, at=datetime(2027, 1, 1, tzinfo=UTC)
    )
    at = sub.current_period_end - timedelta(days=3)
    run(notices_scheduled_send, at=at)
    run(notices_scheduled_send, at=at)
    assert mailoutbox == []
    assert only_notice(NoticeKind.RENEWAL_UPCOMING).status == NoticeStatus.SKIPPED_OPTED_OUT


# Card expiring, usage threshold (events)
def test_card_expiring_once_and_opt_out(run, consume, mailoutbox):
    at = timezone.now()
    customer, method = customer_with_card("expiring")
    quiet, quiet_method = customer_with_card("quiet")
    quiet.notices_opted_out = [NoticeKind.CARD_EXPIRING]
    quiet.save()
    PaymentMethod.objects.filter(pk__in=[method.pk, quiet_method.pk]).update(
        exp_month=at.month, exp_year=at.year
    )
    assert run(payment_methods_expiring_notify, at=at) == 2
    run(payment_methods_expiring_notify, at=at)
    consume()
    consume()
    [message] = mailoutbox
    month = at.strftime("%B %Y")
    assert message.subject == f"Your Visa card ending 4242 expires {month}"
    assert f"expires at the end of {month}" in message.body
    assert "https://billing.example.com/portal/payment-methods/" in message.body
    assert "you can turn it off" in message.body
    assert "Update your payment method" in html_of(message)
    assert_seller(message)
    statuses = dict(Notice.objects.values_list("customer__external_id", "status"))
    assert statuses == {"expiring": NoticeStatus.SENT, "quiet": NoticeStatus.SKIPPED_OPTED_OUT}


def threshold_event(customer, sub, at):
    with transaction.atomic():
        return billing_event_record(
            kind="usage.threshold_reached",
            subject=sub,
            at=at,
            customer=customer,
            payload={
                "subscription": sub.pk,
                "metric": "api_calls",
                "kind": "quota_percent",
                "threshold": "80",
                "quota": "100000",
                "value": "80512",
                "period_start": datetime(2026, 3, 1, tzinfo=UTC),
                "period_end": datetime(2026, 4, 1, tzinfo=UTC),
            },
            dedupe_key=f"usage_alert:test:{customer.pk}",
        )


def test_usage_threshold_once(run, consume, mailoutbox):
    customer = factories.customer(external_id="heavy")
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=AT)
    run(threshold_event, customer=customer, sub=sub, at=AT)
    run(threshold_event, customer=customer, sub=sub, at=AT)  # deduplicated by billing
    consume()
    consume()
    [message] = mailoutbox
    assert message.subject == "Usage alert: api_calls reached 80%"
    assert "has reached 80,512 this period (1 Mar 2026 – 31 Mar 2026)" in message.body
    assert "of a quota of 100,000" in message.body
    assert "80,512" in html_of(message)
    assert_seller(message)


def test_usage_threshold_respects_the_opt_out(run, consume, mailoutbox):
    customer = factories.customer(external_id="heavy")
    customer.notices_opted_out = [NoticeKind.USAGE_THRESHOLD]
    customer.save()
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=AT)
    run(threshold_event, customer=customer, sub=sub, at=AT)
    consume()
    assert mailoutbox == []
    assert only_notice(NoticeKind.USAGE_THRESHOLD).status == NoticeStatus.SKIPPED_OPTED_OUT


# Subscription canceled, account suspended / restored
def test_subscription_canceled_once_even_when_opted_out(run, consume, mailoutbox):
    customer = factories.customer(external_id="leaving", timezone="America/New_York")
    customer.notices_opted_out = [NoticeKind.SUBSCRIPTION_CANCELED]  # essential: ignored
    customer.save()
    sub = factories.subscription(customer=customer, plan=factories.plan(), at=AT)
    run(
        subscription_cancel,
        subscription=sub,
        at=AT + timedelta(days=2),
        when="immediately",
        reason="too_expensive",
    )
    consume()
    consume()
    [message] = mailoutbox
    assert message.subject == "Your Pro subscription is canceled"
    assert "was canceled on 12 Mar 2026 (reason given: It is too expensive)" in message.body
    assert "was canceled on 12 Mar 2026" in html_of(message)
    assert_seller(message)
    assert only_notice(NoticeKind.SUBSCRIPTION_CANCELED).status == NoticeStatus.SENT


def account_event(kind, customer, at, reason=""):
    with transaction.atomic():
        return billing_event_record(
            kind=kind,
            subject=customer,
            at=at,
            payload={"reason": reason, "comment": "internal: ticket 4711"},
        )


def test_account_suspended_then_restored_once_each(run, consume, mailoutbox):
    customer = factories.customer(external_id="naughty", timezone="Pacific/Auckland")
    factories.subscription(customer=customer, plan=factories.plan(), at=AT)
    at = datetime(2026, 3, 20, 12, tzinfo=UTC)  # 21 Mar 01:00 in Auckland
    reason = "policy_violation"  # provisioning.models.SuspendReason
    run(account_event, kind="account.suspended", customer=customer, at=at, reason=reason)
    consume()
    run(account_event, kind="account.restored", customer=customer, at=at + timedelta(days=1))
    consume()
    consume()
    suspended, restored = mailoutbox
    assert suspended.subject == "Your Seller GmbH account is suspended"
    assert "was suspended on 21 Mar 2026 because of a breach of our usage policy." in suspended.body
    assert "ticket 4711" not in suspended.body + html_of(suspended)  # the comment is internal
    assert "suspended</strong> on 21 Mar 2026" in html_of(suspended)
    assert restored.subject == "Your Seller GmbH account is restored"
    assert "is active again since 22 Mar 2026" in restored.body
    assert_seller(restored)
    kinds = sorted(Notice.objects.values_list("kind", flat=True))
    assert kinds == [NoticeKind.ACCOUNT_RESTORED, NoticeKind.ACCOUNT_SUSPENDED]


def test_old_events_are_not_mailed(run, mailoutbox):
    customer = factories.customer(external_id="old")
    run(account_event, kind="account.suspended", customer=customer, at=AT)
    run(notices_events_consume_all, at=timezone.now() + timedelta(days=3))
    assert mailoutbox == []
    assert not Notice.objects.exists()


def test_amounts_follow_the_currency_precision():
    from billing.invoicing.services.documents import money

    assert money(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert money(Decimal("1234.5"), "JPY") == "1,235 JPY"
    assert money(Decimal("1.2345"), "KWD") == "1.235 KWD"


def test_account_notices_follow_provisioning_suspend_and_restore(run, consume, mailoutbox):
    from provisioning.services.accounts import account_activate, account_restore, account_suspend

    customer = factories.customer(external_id="ops")
    run(account_activate, customer=customer, at=AT)
    run(account_suspend, customer=customer, at=AT, reason="non_payment", comment="case 12")
    run(account_suspend, customer=customer, at=AT, reason="non_payment")  # no change: no event
    consume()
    run(account_restore, customer=customer, at=AT + timedelta(days=1))
    consume()
    suspended, restored = mailoutbox
    assert "was suspended on 10 Mar 2026 because of unpaid invoices." in suspended.body
    assert "case 12" not in suspended.body
    assert "is active again since 11 Mar 2026" in restored.body
