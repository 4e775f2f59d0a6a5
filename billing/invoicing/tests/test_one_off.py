"""One-off invoices (billing/invoicing/services/one_off.py and the admin's "Add one-off
invoice" page), the schedule that issues them on their day, and the customer's payment terms
and invoice delivery on finalization."""

import importlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from billing.invoicing.services import invoices as invoicing
from billing.invoicing.services import one_off
from billing.invoicing.services.bill_runs import drafts_finalize_due
from billing.invoicing.services.one_off import (
    OneOffLine,
    invoice_issue_scheduled,
    invoices_scheduled_issue,
    one_off_invoice_create,
)
from billing.models import BillingEvent, Invoice, InvoiceLine
from billing.tax.services import tax_registration_create, tax_settings_update
from billing.tests import factories
from customers.models import Customer
from customers.services import customer_archive, customer_create

pytestmark = pytest.mark.django_db

AT = datetime(2027, 3, 10, 12, tzinfo=UTC)
D = Decimal


def line(description="Consulting", quantity="2", unit="150.00", **kwargs) -> OneOffLine:
    return OneOffLine(description=description, quantity=D(quantity), unit_amount=D(unit), **kwargs)


def create(customer, lines=None, **kwargs) -> Invoice:
    kwargs.setdefault("currency", customer.currency)
    kwargs.setdefault("at", AT)
    return one_off_invoice_create(customer=customer, lines=lines or [line()], **kwargs)


def errors_of(exc_info) -> dict[str, str]:
    return {field: " ".join(messages) for field, messages in exc_info.value.message_dict.items()}


@pytest.fixture
def customer():
    return factories.customer(external_id="acme")


@pytest.fixture
def irish_consumer(settings):
    tax_settings_update(at=AT, legal_name="Northwind Ltd", seller_country="IE")
    tax_registration_create(country="IE", number="IE6388047V", at=AT)
    return customer_create(
        external_id="dublin",
        name="Dublin Person",
        email="p@dublin.example",
        currency="EUR",
        country="IE",
        timezone="Europe/Dublin",
    )


# The service
def test_issued_now_is_numbered_taxed_and_due_on_the_default_terms(customer, settings):
    settings.INVOICE_DUE_DAYS = 14
    invoice = create(customer, [line(), line("Travel", "1", "35.50")])
    assert invoice.status == "open"
    assert invoice.number.startswith("INV-2027-")
    assert invoice.scheduled_issue_at is None
    assert [(ln.kind, ln.description, ln.quantity, ln.amount) for ln in invoice.lines.all()] == [
        ("one_time", "Consulting", D(2), D("300.00")),
        ("one_time", "Travel", D(1), D("35.50")),
    ]
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == (D("335.50"),) * 3
    assert invoice.due_at == AT + timedelta(days=14)
    created = BillingEvent.objects.get(kind="invoice.created", subject_id=str(invoice.pk))
    assert created.payload["one_off"] is True
    assert BillingEvent.objects.filter(kind="invoice.finalized").count() == 1


def test_lines_are_taxed_like_every_invoice(irish_consumer):
    invoice = create(
        irish_consumer,
        [
            line("Workshop", "1", "100.00"),
            line("Inclusive item", "1", "123.00", tax_behavior="inclusive"),
            line("Exempt item", "1", "10.00", tax_code="exempt"),
        ],
    )
    lines = list(invoice.lines.order_by("position"))
    assert [(ln.amount, ln.tax_rate, ln.tax_amount) for ln in lines] == [
        (D("100.00"), D(23), D("23.00")),
        (D("100.00"), D(23), D("23.00")),  # 123.00 gross = 100.00 + 23% VAT
        (D("10.00"), D(0), D("0.00")),
    ]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D("210.00"), D("46.00"), D("256.00"))


def test_pending_lines_wait_for_the_next_invoice(customer):
    pending = InvoiceLine.objects.create(
        customer=customer, currency="USD", kind="proration", description="Upgrade", amount=D(5)
    )
    invoice = create(customer)
    assert list(invoice.lines.values_list("description", flat=True)) == ["Consulting"]
    pending.refresh_from_db()
    assert pending.invoice_id is None


def test_amounts_are_rounded_once_per_line_in_the_currency():
    yen = factories.customer(external_id="tokyo", currency="JPY")
    invoice = create(yen, [line("Seats", "3.5", "1001")])
    assert invoice.lines.get().amount == D(3504)  # 3503.5 rounded half up
    kwd = factories.customer(external_id="kuwait", currency="KWD")
    invoice = create(kwd, [line("Setup", "1.5", "1.255")])
    assert invoice.lines.get().amount == D("1.883")  # 1.8825 -> 1.883


@pytest.mark.parametrize(
    ("currency", "lines", "field", "message"),
    [
        ("USD", [line(quantity="0")], "lines.0.quantity", "above 0"),
        ("USD", [line(quantity="-1")], "lines.0.quantity", "above 0"),
        ("USD", [line(quantity="1.00001")], "lines.0.quantity", "4 decimal places"),
        ("USD", [line(unit="10.001")], "lines.0.unit_amount", "2 decimal places"),
        ("JPY", [line(unit="10.5")], "lines.0.unit_amount", "whole numbers"),
        ("KWD", [line(unit="1.2345")], "lines.0.unit_amount", "3 decimal places"),
        ("USD", [line(unit="-1")], "lines.0.unit_amount", "0 or more"),
        ("USD", [line(description=" ")], "lines.0.description", "what the line is for"),
        ("USD", [line(tax_code="food")], "lines.0.tax_code", "One of"),
        ("USD", [line(), line(tax_behavior="gross")], "lines.1.tax_behavior", "One of"),
        ("USD", [line(unit="0")], "lines", "for nothing"),
        ("USD", [], "lines", "at least one line"),
        ("ZZZ", [line()], "currency", "ISO 4217"),
    ],
)
def test_refused_input_changes_nothing(customer, currency, lines, field, message):
    events = BillingEvent.objects.count()
    with pytest.raises(ValidationError) as exc_info:
        one_off_invoice_create(customer=customer, currency=currency, lines=lines, at=AT)
    assert message in errors_of(exc_info)[field]
    assert not Invoice.objects.exists()
    assert not InvoiceLine.objects.exists()
    assert BillingEvent.objects.count() == events


def test_refuses_an_archived_customer_and_a_past_date(customer):
    customer_archive(customer=customer, at=AT)
    with pytest.raises(ValidationError) as exc_info:
        create(customer, issue_at=AT - timedelta(hours=1))
    errors = errors_of(exc_info)
    assert "archived" in errors["customer"]
    assert "in the past" in errors["issue_at"]
    assert not Invoice.objects.exists()


def test_a_vat_number_waiting_for_its_check_refuses_issuing_now(customer):
    Customer.objects.filter(pk=customer.pk).update(tax_id="DE136695976", tax_id_status="pending")
    with pytest.raises(Exception, match="VIES"):
        create(customer)
    assert not Invoice.objects.exists()
    assert create(customer, issue_at=AT + timedelta(days=1)).status == "draft"  # may wait


# Scheduled
def test_scheduled_draft_is_issued_on_its_day_by_the_schedule(customer):
    day = AT + timedelta(days=5)
    invoice = create(customer, issue_at=day)
    assert (invoice.status, invoice.number, invoice.scheduled_issue_at) == ("draft", None, day)
    assert invoice.total == D("300.00")  # taxed as a draft already
    # the draft grace period leaves it alone, and the schedule waits for its time
    assert drafts_finalize_due(at=day - timedelta(minutes=1)) == 0
    assert invoices_scheduled_issue(at=day - timedelta(minutes=1)).issued == []
    invoice.refresh_from_db()
    assert invoice.status == "draft"
    result = invoices_scheduled_issue(at=day + timedelta(minutes=3))
    assert result.issued == [invoice.pk]
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert invoice.issued_at == day + timedelta(minutes=3)
    assert BillingEvent.objects.filter(kind="invoice.finalized").count() == 1
    # again (a second worker, the next run): nothing issued twice
    assert invoices_scheduled_issue(at=day + timedelta(minutes=13)).issued == []
    assert invoice_issue_scheduled(invoice_id=invoice.pk, at=day + timedelta(hours=1)) is None
    assert BillingEvent.objects.filter(kind="invoice.finalized").count() == 1


def test_one_failure_does_not_stop_the_others(customer, monkeypatch):
    day = AT + timedelta(days=1)
    first = create(customer, issue_at=day)
    second = create(factories.customer(external_id="other"), issue_at=day)
    real = one_off.invoice_finalize

    def finalize(*, invoice, at, actor=None):
        if invoice.pk == first.pk:
            raise RuntimeError("printer on fire")
        return real(invoice=invoice, at=at, actor=actor)

    monkeypatch.setattr(one_off, "invoice_finalize", finalize)
    result = invoices_scheduled_issue(at=day)
    assert result.issued == [second.pk]
    assert result.failed == {first.pk: "printer on fire"}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("draft", "open")
    monkeypatch.setattr(one_off, "invoice_finalize", real)
    assert invoices_scheduled_issue(at=day + timedelta(minutes=10)).issued == [first.pk]


def test_a_voided_scheduled_draft_is_not_issued(customer):
    invoice = create(customer, issue_at=AT + timedelta(days=1))
    with transaction.atomic():
        invoicing.invoice_void(invoice=invoice, at=AT, reason="customer changed its mind")
    assert invoices_scheduled_issue(at=AT + timedelta(days=2)).issued == []
    event = BillingEvent.objects.get(kind="invoice.voided")
    assert event.payload["reason"] == "customer changed its mind"


def test_the_migration_schedules_the_task():
    """The schedule's row (a transactional test may have flushed it: read the migration)."""
    migration = importlib.import_module("billing.migrations.0016_invoice_scheduled_issue_at")
    name, func = migration.SCHEDULE
    assert func == "billing.tasks.invoices_scheduled_issue_scheduled"
    module, _, attribute = func.rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))


# Payment terms and invoice delivery on finalization
def test_customer_payment_terms_decide_the_due_date(customer, settings):
    settings.INVOICE_DUE_DAYS = 14
    Customer.objects.filter(pk=customer.pk).update(payment_terms_days=45)
    customer.refresh_from_db()
    assert create(customer).due_at == AT + timedelta(days=45)
    Customer.objects.filter(pk=customer.pk).update(payment_terms_days=0)
    assert create(customer).due_at == AT  # due on receipt


def queued_tasks(monkeypatch, django_capture_on_commit_callbacks, make) -> list[str]:
    queued = []
    monkeypatch.setattr(invoicing, "async_task", lambda name, **kwargs: queued.append(name))
    with django_capture_on_commit_callbacks(execute=True):
        make()
    return queued


def test_portal_only_customers_get_no_invoice_mail(
    customer, monkeypatch, django_capture_on_commit_callbacks
):
    email_task = "billing.invoicing.tasks.invoice_email_send_task"
    assert email_task in queued_tasks(
        monkeypatch, django_capture_on_commit_callbacks, lambda: create(customer)
    )
    Customer.objects.filter(pk=customer.pk).update(invoice_delivery="portal")
    customer.refresh_from_db()
    assert email_task not in queued_tasks(
        monkeypatch, django_capture_on_commit_callbacks, lambda: create(customer)
    )


# The admin page
def one_off_url() -> str:
    return reverse("admin:billing_invoice_one_off")


def page_data(customer="acme", issue_on="", lines=(("Consulting", "2", "150.00"),), **extra):
    data = {
        "customer": customer,
        "currency": "",
        "issue_on": issue_on,
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "100",
    }
    for index in range(3):  # the empty rows as the browser posts them
        data[f"lines-{index}-quantity"] = "1"
    for index, (description, quantity, unit) in enumerate(lines):
        data[f"lines-{index}-description"] = description
        data[f"lines-{index}-quantity"] = quantity
        data[f"lines-{index}-unit_amount"] = unit
    return {**data, **extra}


@pytest.fixture
def clock():
    """Before the client logs in (its session must not be two weeks old at AT)."""
    with time_machine.travel(AT, tick=False):
        yield


def staff_client(client, group):
    user = get_user_model().objects.create_user(f"u-{group}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def test_page_issues_now(clock, admin_client, admin_user, customer):
    changelist = admin_client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert one_off_url() in changelist
    assert admin_client.get(one_off_url()).status_code == 200
    response = admin_client.post(one_off_url(), page_data())
    invoice = Invoice.objects.get()
    assert response.url == reverse("admin:billing_invoice_change", args=[invoice.pk])
    assert (invoice.status, invoice.total) == ("open", D("300.00"))
    event = BillingEvent.objects.get(kind="invoice.finalized")
    assert event.actor == f"user:{admin_user.pk}:{admin_user.username}"


def test_page_schedules_for_a_day_in_the_customers_time_zone(clock, admin_client):
    customer = factories.customer(external_id="nz", timezone="Pacific/Auckland")
    response = admin_client.post(
        one_off_url(), page_data(customer="nz", issue_on="2027-04-01"), follow=True
    )
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.status == "draft"
    # midnight in Auckland (NZDT, UTC+13) on 1 April 2027
    assert invoice.scheduled_issue_at == datetime(2027, 3, 31, 11, tzinfo=UTC)
    assert any("issued on 2027-04-01" in str(m) for m in response.context["messages"])
    scheduled = admin_client.get(reverse("admin:billing_invoice_changelist"), {"scheduled": "yes"})
    assert [i.pk for i in scheduled.context["cl"].result_list] == [invoice.pk]
    # today (in the customer's zone) means now
    admin_client.post(one_off_url(), page_data(customer="nz", issue_on="2027-03-11"))
    assert Invoice.objects.filter(customer=customer, status="open").count() == 1


@pytest.mark.parametrize(
    ("overrides", "where", "message"),
    [
        ({"issue_on": "2027-03-01"}, "issue_on", "in the past"),
        ({"customer": "nobody"}, "customer", "No active customer"),
        ({"lines": (("Seats", "0", "10.00"),)}, "lines-0-quantity", "above 0"),
        ({"lines": (("Seats", "1", "10.001"),)}, "lines-0-unit_amount", "2 decimal places"),
        ({"lines": ()}, "lines", "at least one line"),
        ({"currency": "jpy", "lines": (("Seats", "1", "10.5"),)}, "lines-0-unit_amount", "whole"),
    ],
)
def test_page_shows_errors_and_changes_nothing(
    clock, admin_client, customer, overrides, where, message
):
    lines = overrides.pop("lines", (("Consulting", "2", "150.00"),))
    response = admin_client.post(one_off_url(), page_data(lines=lines, **overrides))
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page, where
    assert not Invoice.objects.exists()


def test_page_refuses_an_archived_customer(clock, admin_client, customer):
    customer_archive(customer=customer, at=AT)
    response = admin_client.post(one_off_url(), page_data())
    assert "No active customer" in response.content.decode()
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    ("group", "allowed"),
    [("read-only", False), ("support", False), ("operations", False), ("finance", True)],
)
def test_only_finance_adds_one_off_invoices(clock, client, customer, group, allowed):
    staff_client(client, group)
    changelist = client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert (one_off_url() in changelist) is allowed
    assert client.get(one_off_url()).status_code == (200 if allowed else 403)
    response = client.post(one_off_url(), page_data())
    assert response.status_code == (302 if allowed else 403)
    assert Invoice.objects.exists() is allowed


def test_customer_form_edits_terms_and_delivery(admin_client, customer):
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    form = admin_client.get(url).context["adminform"].form
    assert {"payment_terms_days", "invoice_delivery"} <= set(form.fields)
    data = {
        name: value
        for name, value in form.initial.items()
        if name in form.fields and value is not None
    }
    data.update(payment_terms_days="30", invoice_delivery="portal", metadata="{}")
    for prefix in ("contacts", "users"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert (customer.payment_terms_days, customer.invoice_delivery) == (30, "portal")
