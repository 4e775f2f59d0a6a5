"""The invoice console (billing/invoicing/admin/invoice_pages.py): the PDF, resend, void and
write off behind confirmation pages with a reason, a credit note by line with its preview,
the credit note's PDF; each through its service, a refusal changing nothing, and only
finance (the invoice's change permission) acting."""

import io
import zipfile
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from billing.invoicing.tests.pdf_text import pdf_text
from billing.models import (
    BillingEvent,
    CreditNote,
    Invoice,
    InvoiceNumberSequence,
    InvoiceStatus,
)
from billing.payments.services.payments import payment_collect
from billing.tax.services import tax_registration_create, tax_settings_update
from billing.tests import factories
from billing.tests.payment_helpers import customer_with_card, open_invoice
from customers.models import Customer
from customers.services import contact_create, customer_create

pytestmark = pytest.mark.django_db
D = Decimal
OTHER_GROUPS = ["read-only", "support", "operations"]


def url(page, *args):
    return reverse(f"admin:billing_invoice_{page}", args=args)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def staff(client, group):
    user = get_user_model().objects.create_user(f"u-{group}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def action(client, name, *invoices, **extra):
    data = {"action": name, "_selected_action": [i.pk for i in invoices], **extra}
    return client.post(url("changelist"), data)


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


@pytest.fixture
def invoice():
    customer = factories.customer(external_id="acme")
    return open_invoice(customer, "120.00", at=timezone.now(), description="Annual support")


@pytest.fixture
def paid():
    customer, _ = customer_with_card(external_id="payer")
    invoice = open_invoice(customer, "80.00", at=timezone.now())
    payment_collect(invoice=invoice, at=timezone.now(), source="api")
    return reload(invoice)


@pytest.fixture
def irish():
    """An open invoice of a consumer in Ireland: two lines, 23% VAT."""
    tax_settings_update(at=timezone.now(), legal_name="Northwind Ltd", seller_country="IE")
    tax_registration_create(country="IE", number="IE6388047V", at=timezone.now())
    customer = customer_create(
        external_id="dublin",
        name="Dublin Person",
        email="p@dublin.example",
        currency="EUR",
        country="IE",
    )
    invoice = open_invoice(customer, "100.00", at=timezone.now(), description="Workshop")
    assert invoice.tax == D("23.00")
    return invoice


# The PDF
def test_invoice_page_links_its_tools(admin_client, invoice):
    page = admin_client.get(url("change", invoice.pk)).content.decode()
    for tool in ("pdf", "resend", "credit_note", "void", "write_off"):
        assert url(tool, invoice.pk) in page


def test_pdf_download(admin_client, admin_user, invoice, paid):
    response = admin_client.get(url("pdf", invoice.pk))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF")
    assert "Annual support" in pdf_text(response.content)
    paid_pdf = admin_client.get(url("pdf", paid.pk)).content
    assert "PAID" in pdf_text(paid_pdf)


def test_pdf_list_action_one_pdf_or_a_zip(admin_client, invoice, paid):
    response = action(admin_client, "download_pdf_selected", invoice)
    assert response.content.startswith(b"%PDF")
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    response = action(admin_client, "download_pdf_selected", invoice, paid)
    assert response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert sorted(names) == sorted([f"{invoice.number}.pdf", f"{paid.number}.pdf"])


# Resend
def test_resend_page_confirms_then_mails_again(
    admin_client, invoice, mailoutbox, django_capture_on_commit_callbacks
):
    contact_create(customer=invoice.customer, name="AP", email="ap@acme.test")
    page = admin_client.get(url("resend", invoice.pk)).content.decode()
    assert "ap@acme.test" in page
    assert "portal only" not in page
    assert mailoutbox == []
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url("resend", invoice.pk), follow=True)
    assert "Resent: 1." in messages_of(response)
    assert len(mailoutbox) == 1
    assert "ap@acme.test" in mailoutbox[0].to
    assert mailoutbox[0].attachments[0][0] == f"{invoice.number}.pdf"
    [event] = BillingEvent.objects.filter(kind="invoice.email_resent")
    assert event.actor != "system"  # the staff member who asked
    assert "admin" in event.actor


def test_resend_to_a_portal_only_customer_says_so_and_sends(
    admin_client, invoice, mailoutbox, django_capture_on_commit_callbacks
):
    Customer.objects.filter(pk=invoice.customer_id).update(invoice_delivery="portal")
    page = " ".join(admin_client.get(url("resend", invoice.pk)).content.decode().split())
    assert "portal only" in page
    assert "it is sent anyway because you ask for it" in page
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url("resend", invoice.pk))
    assert len(mailoutbox) == 1


def test_resend_list_action_confirms_and_skips_drafts(
    admin_client, invoice, mailoutbox, django_capture_on_commit_callbacks
):
    draft = Invoice.objects.create(customer=invoice.customer, currency="USD")
    response = action(admin_client, "resend_selected", invoice, draft)
    assert response.status_code == 200
    assert "not sent: the invoice is draft" in response.content.decode()
    assert mailoutbox == []
    with django_capture_on_commit_callbacks(execute=True):
        response = action(admin_client, "resend_selected", invoice, draft, post="yes")
    assert len(mailoutbox) == 1
    followed = admin_client.get(response.url)
    assert "Resent: 1." in messages_of(followed)
    assert any("not sent" in text for text in messages_of(followed))


# Void and write off
@pytest.mark.parametrize(
    ("page", "name", "status", "kind"),
    [
        ("void", "void_selected", InvoiceStatus.VOID, "invoice.voided"),
        (
            "write_off",
            "mark_uncollectible_selected",
            InvoiceStatus.UNCOLLECTIBLE,
            "invoice.marked_uncollectible",
        ),
    ],
)
def test_destructive_pages_confirm_with_a_reason(
    admin_client, admin_user, invoice, page, name, status, kind
):
    response = admin_client.get(url(page, invoice.pk))
    assert response.status_code == 200
    assert "cannot be undone" in response.content.decode()
    response = admin_client.post(url(page, invoice.pk), {"reason": ""})
    assert "This field is required." in response.content.decode()
    assert reload(invoice).status == InvoiceStatus.OPEN
    response = admin_client.post(url(page, invoice.pk), {"reason": "Duplicate of INV-7"})
    assert response.url == url("change", invoice.pk)
    assert reload(invoice).status == status
    event = BillingEvent.objects.get(kind=kind)
    assert event.payload["reason"] == "Duplicate of INV-7"
    assert event.actor == f"user:{admin_user.pk}:{admin_user.username}"


@pytest.mark.parametrize(
    ("name", "status"),
    [("void_selected", "void"), ("mark_uncollectible_selected", "uncollectible")],
)
def test_destructive_list_actions_ask_first(admin_client, invoice, name, status):
    response = action(admin_client, name, invoice)
    assert response.status_code == 200  # the confirmation page, nothing changed
    assert reload(invoice).status == InvoiceStatus.OPEN
    response = action(admin_client, name, invoice, post="yes", reason="")
    assert response.status_code == 200  # no reason: asked again
    assert reload(invoice).status == InvoiceStatus.OPEN
    response = action(admin_client, name, invoice, post="yes", reason="bankrupt")
    assert response.status_code == 302
    assert reload(invoice).status == status


def test_a_refused_void_is_a_message_and_changes_nothing(admin_client, paid):
    response = admin_client.post(url("void", paid.pk), {"reason": "x"}, follow=True)
    assert any("not possible" in text for text in messages_of(response))
    assert reload(paid).status == InvoiceStatus.PAID
    assert not BillingEvent.objects.filter(kind="invoice.voided").exists()


# Credit note by line
def credit(client, invoice, amounts: dict, *, button="_preview", **extra):
    data = {"reason": "order_change", "memo": "", "settle": "balance", button: "1", **extra}
    data.update({f"line_{line.pk}": amount for line, amount in amounts.items()})
    return client.post(url("credit_note", invoice.pk), data)


def test_credit_note_preview_shows_the_tax_and_saves_nothing(admin_client, irish):
    line = irish.lines.get()
    page = admin_client.get(url("credit_note", irish.pk))
    assert page.status_code == 200
    assert "123.00" in page.content.decode()  # left to credit, tax included
    events, sequences = BillingEvent.objects.count(), list(InvoiceNumberSequence.objects.values())
    response = credit(admin_client, irish, {line: "61.50"})
    preview = response.context["preview"]
    assert (preview.note.subtotal, preview.note.tax, preview.note.total) == (
        D("50.00"),
        D("11.50"),
        D("61.50"),
    )
    assert preview.note.amount_due_reduction == D("61.50")  # open: the amount due first
    assert 'name="_confirm"' in response.content.decode()
    assert not CreditNote.objects.exists()
    assert BillingEvent.objects.count() == events
    assert list(InvoiceNumberSequence.objects.values()) == sequences
    assert reload(irish).amount_due == D("123.00")


def test_credit_note_issued_on_confirmation(admin_client, admin_user, irish):
    line = irish.lines.get()
    response = credit(admin_client, irish, {line: "61.50"}, button="_confirm", memo="Half day")
    note = CreditNote.objects.get()
    assert response.url == reverse("admin:billing_creditnote_change", args=[note.pk])
    assert (note.total, note.tax, note.memo, note.reason) == (
        D("61.50"),
        D("11.50"),
        "Half day",
        "order_change",
    )
    assert [(n.invoice_line_id, n.amount) for n in note.lines.all()] == [(line.pk, D("61.50"))]
    assert reload(irish).amount_due == D("61.50")
    event = BillingEvent.objects.get(kind="credit_note.issued")
    assert event.actor == f"user:{admin_user.pk}:{admin_user.username}"


def test_credit_note_of_a_paid_invoice_refunds_or_credits_the_balance(admin_client, paid):
    line = paid.lines.get()
    response = credit(admin_client, paid, {line: "30.00"}, settle="refund")
    assert response.context["preview"].note.refund_amount == D("30.00")
    credit(admin_client, paid, {line: "30.00"}, button="_confirm", settle="refund")
    credit(admin_client, paid, {line: "20.00"}, button="_confirm", settle="balance")
    refund, balance = CreditNote.objects.order_by("pk")
    assert (refund.refund_amount, refund.credit_amount) == (D("30.00"), D(0))
    assert (balance.refund_amount, balance.credit_amount) == (D(0), D("20.00"))


@pytest.mark.parametrize(
    ("amount", "where", "message"),
    [
        ("130.00", "line", "is left to credit on this line"),
        ("10.001", "line", "2 decimal places"),
        ("", None, "at least one line"),
        ("-5", "line", "greater than or equal to 0"),
    ],
)
def test_credit_note_errors_show_on_the_form_and_change_nothing(
    admin_client, invoice, amount, where, message
):
    line = invoice.lines.get()
    events = BillingEvent.objects.count()
    for button in ("_preview", "_confirm"):
        response = credit(admin_client, invoice, {line: amount}, button=button)
        assert response.status_code == 200
        form = response.context["form"]
        errors = form.errors[f"line_{line.pk}" if where else "__all__"]
        assert message in " ".join(errors)
        assert response.context["preview"] is None
    assert not CreditNote.objects.exists()
    assert BillingEvent.objects.count() == events
    assert reload(invoice).amount_due == D("120.00")


def test_credit_note_of_a_void_invoice_is_refused(admin_client, invoice):
    admin_client.post(url("void", invoice.pk), {"reason": "x"})
    response = credit(admin_client, invoice, {invoice.lines.get(): "10.00"}, button="_confirm")
    assert "Only open or paid invoices" in response.content.decode()
    assert not CreditNote.objects.exists()


def test_credit_note_pdf_on_its_page(admin_client, invoice):
    credit(admin_client, invoice, {invoice.lines.get(): "20.00"}, button="_confirm")
    note = CreditNote.objects.get()
    pdf_url = reverse("admin:billing_creditnote_pdf", args=[note.pk])
    page = admin_client.get(reverse("admin:billing_creditnote_change", args=[note.pk]))
    assert pdf_url in page.content.decode()
    response = admin_client.get(pdf_url)
    assert response.content.startswith(b"%PDF")
    assert f'filename="{note.number}.pdf"' in response["Content-Disposition"]


# Staff groups: finance acts, the others get no tool, no action, 403
NEW_ACTIONS = {"download_pdf_selected", "resend_selected", "void_selected"}
NEW_ACTIONS |= {"mark_uncollectible_selected"}


@pytest.mark.parametrize("group", OTHER_GROUPS)
def test_other_groups_get_no_tools_and_403(client, invoice, group, mailoutbox):
    staff(client, group)
    page = client.get(url("change", invoice.pk))
    assert page.status_code == 200
    for tool in ("pdf", "resend", "credit_note", "void", "write_off"):
        assert url(tool, invoice.pk) not in page.content.decode()
        assert client.get(url(tool, invoice.pk)).status_code == 403
        assert client.post(url(tool, invoice.pk), {"reason": "x"}).status_code == 403
    action_form = client.get(url("changelist")).context["action_form"]
    offered = {name for name, _ in action_form.fields["action"].choices} if action_form else set()
    assert not (offered & NEW_ACTIONS)
    for name in NEW_ACTIONS:
        action(client, name, invoice, post="yes", reason="x")
    assert reload(invoice).status == InvoiceStatus.OPEN
    assert mailoutbox == []
    assert not CreditNote.objects.exists()
    note_pdf = client.get(reverse("admin:billing_creditnote_pdf", args=[1]))
    assert note_pdf.status_code == 403


def test_finance_acts(client, invoice, mailoutbox, django_capture_on_commit_callbacks):
    staff(client, "finance")
    offered = {
        n for n, _ in client.get(url("changelist")).context["action_form"].fields["action"].choices
    }
    assert offered >= NEW_ACTIONS
    assert client.get(url("pdf", invoice.pk)).content.startswith(b"%PDF")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("resend", invoice.pk))
    assert len(mailoutbox) == 1
    credit(client, invoice, {invoice.lines.get(): "20.00"}, button="_confirm")
    assert CreditNote.objects.count() == 1
    client.post(url("write_off", invoice.pk), {"reason": "insolvent"})
    assert reload(invoice).status == InvoiceStatus.UNCOLLECTIBLE
