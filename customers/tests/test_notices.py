"""The notice mechanism (customers.notices): one mail per key, recorded, sent after commit,
HTML with a text alternative, opt-out for the non-essential kinds."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from customers.models import Notice, NoticeKind, NoticeStatus
from customers.notices import notice_recipients, notice_send, notices_opt_out_set
from customers.services import contact_create, customer_create

pytestmark = pytest.mark.django_db

SELLER = {
    "name": "Seller GmbH",
    "address": ["Hauptstraße 1", "10115 Berlin"],
    "email": "invoices@seller.example",
    "tax_id": "DE123456789",
    "tax_numbers": [],
    "payment_details": [],
}


@pytest.fixture
def customer():
    return customer_create(
        external_id="acme", name="Acme & Sons", email="ap@acme.example", currency="EUR"
    )


def context(customer, **extra):
    return {
        "customer": customer,
        "seller": SELLER,
        "portal_url": "https://billing.example.com/portal/",
        "on": "2 Dec 2026",
        **extra,
    }


def send(customer, kind=NoticeKind.ACCOUNT_RESTORED, key="k1", **kwargs):
    return notice_send(customer=customer, kind=kind, key=key, context=context(customer), **kwargs)


def test_a_notice_is_recorded_then_sent_after_commit_once(
    customer, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.DEFAULT_FROM_EMAIL = "billing@platform.example"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notice = send(customer, related="event #7")
    assert mailoutbox == []  # not before the commit
    assert notice.status == NoticeStatus.QUEUED
    for callback in callbacks:
        callback()
    [message] = mailoutbox
    assert message.from_email == "billing@platform.example"
    assert message.to == ["ap@acme.example"]
    assert message.reply_to == ["invoices@seller.example"]
    assert message.subject == "Your Seller GmbH account is restored"
    assert "Hello Acme & Sons," in message.body  # text: nothing escaped
    assert "Seller GmbH\nHauptstraße 1\n10115 Berlin\nTax ID: DE123456789" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Hello Acme &amp; Sons," in html
    assert "Tax ID: DE123456789" in html
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.SENT
    assert notice.sent_at is not None
    assert notice.recipients == ["ap@acme.example"]
    assert (notice.template, notice.related) == ("notices/account_restored", "event #7")

    with django_capture_on_commit_callbacks(execute=True):
        assert send(customer) is None  # the same key: nothing more
    assert len(mailoutbox) == 1
    assert Notice.objects.count() == 1


def test_a_rolled_back_notice_sends_and_records_nothing(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    def send_then_fail():
        with transaction.atomic():
            send(customer)
            raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        send_then_fail()
    assert mailoutbox == []
    assert not Notice.objects.exists()


def test_opt_out_is_respected_for_optional_kinds_only(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    customer.notices_opted_out = [NoticeKind.CARD_EXPIRING, NoticeKind.ACCOUNT_SUSPENDED]
    customer.save()
    built = []
    with django_capture_on_commit_callbacks(execute=True):
        skipped = notice_send(
            customer=customer,
            kind=NoticeKind.CARD_EXPIRING,
            key="card",
            context=context(customer, card_label="Visa card ending 4242", expires="May 2027"),
            attachments=lambda: built.append(1) or [],
        )
        sent = send(customer, kind=NoticeKind.ACCOUNT_SUSPENDED, key="suspended")
    assert skipped.status == NoticeStatus.SKIPPED_OPTED_OUT
    assert built == []  # nothing rendered for a mail not sent
    assert sent.status == NoticeStatus.QUEUED  # essential: opting out is not possible
    [message] = mailoutbox
    assert message.subject == "Your Seller GmbH account is suspended"
    assert Notice.objects.get(pk=sent.pk).status == NoticeStatus.SENT


def test_optional_notices_say_how_to_turn_them_off(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notice_send(
            customer=customer,
            kind=NoticeKind.CARD_EXPIRING,
            key="card",
            context=context(customer, card_label="Visa card ending 4242", expires="May 2027"),
        )
        send(customer)
    optional, essential = mailoutbox
    assert "you can turn it off" in optional.body
    assert "you can turn it off" in optional.alternatives[0][0]
    assert "you can turn it off" not in essential.body


def test_no_recipient_or_a_failing_server_are_recorded(
    customer, mailoutbox, django_capture_on_commit_callbacks, monkeypatch
):
    customer.email = ""
    customer.save()
    with django_capture_on_commit_callbacks(execute=True):
        nobody = send(customer, key="nobody")
    assert nobody.status == NoticeStatus.SKIPPED_NO_RECIPIENT

    def refuse(self, fail_silently=False):
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        failed = send(customer, key="down", recipients=["ops@acme.example"])
    failed.refresh_from_db()
    assert failed.status == NoticeStatus.FAILED
    assert "SMTP server down" in failed.error
    assert failed.sent_at is None
    with django_capture_on_commit_callbacks(execute=True):
        assert send(customer, key="down", recipients=["ops@acme.example"]) is None  # at most once


def test_recipients_of_invoice_mails_include_invoice_contacts_once(customer):
    contact_create(customer=customer, name="AP", email="AP@acme.example")
    contact_create(customer=customer, name="Payables", email="payables@acme.example")
    contact_create(customer=customer, name="Dev", email="dev@acme.example", receives_invoices=False)
    assert notice_recipients(customer) == ["ap@acme.example"]
    assert notice_recipients(customer, invoice_contacts=True) == [
        "ap@acme.example",
        "payables@acme.example",
    ]


def test_an_unknown_kind_is_refused(customer):
    with pytest.raises(ValueError, match="Unknown notice kind"):
        send(customer, kind="newsletter")


def test_opt_outs_take_optional_kinds_only(customer):
    with pytest.raises(ValidationError):
        notices_opt_out_set(customer=customer, kinds=["card_expiring", "receipt"])
    customer.refresh_from_db()
    assert customer.notices_opted_out == []
    notices_opt_out_set(customer=customer, kinds=["usage_threshold", "card_expiring"])
    customer.refresh_from_db()
    assert customer.notices_opted_out == ["card_expiring", "usage_threshold"]
