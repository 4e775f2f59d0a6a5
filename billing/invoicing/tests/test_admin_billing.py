"""Subscriptions, invoices, bill runs and number sequences in the admin: every change goes
through a service, one call per row, and refusals come back as messages or form errors."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse

from billing.invoicing.admin import bill_runs as admin_bill_runs
from billing.invoicing.admin import subscriptions as billing_admin
from billing.invoicing.services.invoices import invoice_create, invoice_finalize
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import (
    BillingEvent,
    BillRun,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    LineKind,
    Subscription,
)
from billing.tests import factories
from catalog import services as catalog

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
STARTED = datetime(2026, 1, 10, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def customer():
    return factories.customer()


@pytest.fixture
def plan():
    return factories.plan()


@pytest.fixture
def sub(customer, plan):
    return factories.subscription(customer=customer, plan=plan, at=STARTED)


@pytest.fixture
def draft(customer):
    line = InvoiceLine(
        customer=customer,
        currency="USD",
        kind=LineKind.ONE_TIME,
        description="Setup",
        amount=Decimal("50.00"),
    )
    with transaction.atomic():
        return invoice_create(customer=customer, currency="USD", lines=[line], at=NOW)


def admin_url(model, view, *args):
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def run_url():
    return reverse("admin:billing_billrun_run")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def actor(user) -> str:
    return f"user:{user.pk}:{user.get_username()}"


def staff(name, group):
    user = get_user_model().objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def act(client, model, action, *objs):
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [obj.pk for obj in objs]},
        follow=True,
    )


def add_form(customer, plan, **overrides):
    data = {
        "customer": customer.pk,
        "plan": plan.pk,
        "start_at_0": "",
        "start_at_1": "",
        "quantity": "2",
        "trial_days": "",
        "billing_day": "",
        "external_id": "sub-1",
    }
    return {**data, **overrides}


# Changelists
@pytest.mark.parametrize("model", [Subscription, Invoice, BillRun, InvoiceNumberSequence])
def test_changelists_and_search(admin_client, sub, model):
    for params in ({}, {"q": "x"}, {"q": "acme"}):
        assert admin_client.get(admin_url(model, "changelist"), params).status_code == 200


def test_change_pages_show_read_only_details(admin_client, sub):
    invoice = Invoice.objects.get()
    response = admin_client.get(admin_url(Subscription, "change", sub.pk))
    page = response.content.decode()
    assert response.status_code == 200
    assert f"subject_type=billing.subscription&amp;subject_id={sub.pk}" in page
    [lines] = response.context["inline_admin_formsets"]
    assert [form.instance.invoice for form in lines.formset.forms] == [invoice]
    assert list(response.context["adminform"].form.fields) == ["external_id"]

    response = admin_client.get(admin_url(Invoice, "change", invoice.pk))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.get(admin_url(Invoice, "add")).status_code == 403
    assert admin_client.get(admin_url(Invoice, "delete", invoice.pk)).status_code == 403
    assert admin_client.get(admin_url(Subscription, "delete", sub.pk)).status_code == 403


# Adding a subscription
def test_add_form_renders(admin_client):
    response = admin_client.get(admin_url(Subscription, "add"))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == [
        "customer",
        "plan",
        "start_at",
        "quantity",
        "trial_days",
        "billing_day",
        "external_id",
    ]


def test_add_creates_through_the_service(admin_client, admin_user, customer, plan):
    response = admin_client.post(admin_url(Subscription, "add"), add_form(customer, plan))
    sub = Subscription.objects.get()
    assert response.status_code == 302
    assert response.url == admin_url(Subscription, "changelist")
    assert (sub.status, sub.quantity, sub.external_id) == ("active", 2, "sub-1")
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.status == "open"
    assert invoice.total == Decimal("60.00")
    assert invoice.number == "INV-2026-000001"
    created = BillingEvent.objects.get(kind="subscription.created")
    assert created.subject_id == str(sub.pk)
    assert created.actor == actor(admin_user)
    assert BillingEvent.objects.filter(kind="invoice.finalized", actor=actor(admin_user)).exists()


def test_add_with_a_start_date_and_trial(admin_client, customer, plan):
    data = add_form(customer, plan, start_at_0="2026-04-01", start_at_1="00:00:00", trial_days="14")
    assert admin_client.post(admin_url(Subscription, "add"), data).status_code == 302
    sub = Subscription.objects.get()
    assert sub.status == "pending"
    assert sub.start_at == datetime(2026, 4, 1, tzinfo=UTC)
    assert sub.trial_end_at == datetime(2026, 4, 15, tzinfo=UTC)
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({}, "plan", "This plan is not offered any more."),
        ({"quantity": "0"}, "quantity", "Quantity must be at least 1."),
    ],
)
def test_add_shows_the_service_errors_on_the_form(
    admin_client, customer, plan, overrides, field, message
):
    if field == "plan":
        catalog.plan_archive(plan=plan)
    response = admin_client.post(
        admin_url(Subscription, "add"), add_form(customer, plan, **overrides)
    )
    assert response.status_code == 200
    assert message in response.context["adminform"].form.errors[field]
    assert not Subscription.objects.exists()
    assert not Invoice.objects.exists()
    assert not BillingEvent.objects.filter(kind__startswith="subscription.").exists()


def test_add_refuses_a_taken_external_id(admin_client, sub, customer, plan):
    Subscription.objects.filter(pk=sub.pk).update(external_id="sub-1")
    response = admin_client.post(admin_url(Subscription, "add"), add_form(customer, plan))
    assert response.status_code == 200
    assert "external_id" in response.context["adminform"].form.errors
    assert Subscription.objects.count() == 1


def test_a_service_error_after_the_form_checks_is_a_message(
    admin_client, monkeypatch, customer, plan
):
    # Something changed between the form's checks and the service's: no 500, nothing saved.
    monkeypatch.setattr(billing_admin, "subscription_new_validate", lambda **kwargs: None)
    catalog.plan_archive(plan=plan)
    url = admin_url(Subscription, "add")
    response = admin_client.post(url, add_form(customer, plan), follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "This plan is not offered any more." in messages_of(response)
    assert not Subscription.objects.exists()
    assert not BillingEvent.objects.filter(kind__startswith="subscription.").exists()


def test_change_form_edits_the_external_id_only(admin_client, sub):
    url = admin_url(Subscription, "change", sub.pk)
    page = admin_client.get(url)
    data = {"external_id": "crm-42", "quantity": "9", "status": "canceled"}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update(
            {management.add_prefix(name): management[name].value() for name in management.fields}
        )
    assert admin_client.post(url, data).status_code == 302
    sub.refresh_from_db()
    assert (sub.external_id, sub.quantity, sub.status) == ("crm-42", 1, "active")


# Subscription actions
@pytest.mark.parametrize(
    ("action", "status", "cancel_at_period_end", "kind"),
    [
        # "cancel_now" leads to a confirmation page: test_admin_subscription_console.py
        ("cancel_at_period_end_selected", "active", True, "subscription.cancel_scheduled"),
        ("pause_selected", "paused", False, "subscription.paused"),
    ],
)
def test_subscription_actions(
    admin_client, admin_user, sub, action, status, cancel_at_period_end, kind
):
    response = act(admin_client, Subscription, action, sub)
    assert response.status_code == 200
    assert any(m.endswith(": 1.") for m in messages_of(response))
    sub.refresh_from_db()
    assert (sub.status, sub.cancel_at_period_end) == (status, cancel_at_period_end)
    event = BillingEvent.objects.get(kind=kind)
    assert event.actor == actor(admin_user)
    if action != "pause_selected":
        assert sub.cancel_reason == "staff"


def test_resume(admin_client, sub):
    act(admin_client, Subscription, "pause_selected", sub)
    response = act(admin_client, Subscription, "resume_selected", sub)
    assert "Resumed: 1." in messages_of(response)
    sub.refresh_from_db()
    assert sub.status == "active"


def test_a_refused_transition_is_a_message_and_changes_nothing(admin_client, customer, plan, sub):
    subscription_cancel(subscription=sub, at=NOW, when="immediately")
    other = factories.subscription(customer=customer, plan=plan, at=STARTED)
    events = BillingEvent.objects.count()
    response = act(admin_client, Subscription, "pause_selected", sub, other)
    texts = messages_of(response)
    assert any(
        text.startswith(f"{Subscription.objects.get(pk=sub.pk)}: not possible") for text in texts
    )
    assert "Paused: 1." in texts  # the other row went on
    sub.refresh_from_db()
    assert sub.status == "canceled"
    assert BillingEvent.objects.count() == events + 1  # only the other one's pause


# Invoice actions
def test_finalize_a_draft_takes_the_first_number(admin_client, admin_user, draft):
    response = act(admin_client, Invoice, "finalize_selected", draft)
    assert "Finalized: 1." in messages_of(response)
    draft.refresh_from_db()
    assert (draft.status, draft.number) == ("open", "INV-2026-000001")
    assert draft.due_at is not None
    assert BillingEvent.objects.get(kind="invoice.finalized").actor == actor(admin_user)


def confirm_void(client, draft):  # void asks for a confirmation with a reason first
    data = {"action": "void_selected", "_selected_action": [draft.pk], "post": "yes"}
    client.post(admin_url(Invoice, "changelist"), {**data, "reason": "duplicate"})


def test_void_a_draft(admin_client, draft):
    confirm_void(admin_client, draft)
    draft.refresh_from_db()
    assert (draft.status, draft.amount_due, draft.number) == ("void", Decimal(0), None)
    assert BillingEvent.objects.filter(kind="invoice.voided").exists()


def test_mark_an_open_invoice_paid(admin_client, draft):
    with transaction.atomic():
        invoice_finalize(invoice=draft, at=NOW)
    act(admin_client, Invoice, "mark_paid_selected", draft)
    draft.refresh_from_db()
    assert (draft.status, draft.amount_paid, draft.amount_due) == (
        "paid",
        Decimal("50.00"),
        Decimal(0),
    )


def test_refused_invoice_actions_change_nothing(admin_client, draft):
    response = act(admin_client, Invoice, "mark_paid_selected", draft)
    assert any("not possible" in text for text in messages_of(response))
    confirm_void(admin_client, draft)
    response = act(admin_client, Invoice, "finalize_selected", draft)
    assert any("not possible" in text for text in messages_of(response))
    draft.refresh_from_db()
    assert (draft.status, draft.number) == ("void", None)
    assert not InvoiceNumberSequence.objects.filter(next_value__gt=1).exists()


def test_invoice_filters(admin_client, draft, sub):
    url = admin_url(Invoice, "changelist")
    assert admin_client.get(url, {"status__exact": "draft"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"q": "INV-2026"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"created_at__year": "2026"}).context["cl"].result_count == 2
    assert "Draft #" in admin_client.get(url).content.decode()


# Run billing
def test_changelist_links_to_the_run_page(admin_client):
    page = admin_client.get(admin_url(BillRun, "changelist")).content.decode()
    assert f'href="{run_url()}"' in page


def test_run_page(admin_client):
    response = admin_client.get(run_url())
    assert response.status_code == 200
    assert 'name="_preview"' in response.content.decode()
    assert response.context["form"]["as_of"].value().year == 2026


def test_dry_run_shows_lines_and_saves_nothing(admin_client, sub):
    invoices, events = Invoice.objects.count(), BillingEvent.objects.count()
    response = admin_client.post(run_url(), {"as_of": "2026-03-10T12:00", "_preview": "1"})
    assert response.status_code == 200
    preview = response.context["preview"]
    [group] = preview["groups"]
    assert (group["customer"], group["currency"]) == (sub.customer, "USD")
    assert [line.amount for line in group["lines"]] == [Decimal("30.00"), Decimal("30.00")]
    assert group["total"] == Decimal("60.00")
    assert not preview["truncated"]
    assert "60.00 USD" in response.content.decode()
    assert Invoice.objects.count() == invoices
    assert BillingEvent.objects.count() == events
    assert not BillRun.objects.exists()
    sub.refresh_from_db()
    assert sub.billed_through == datetime(2026, 2, 10, tzinfo=UTC)


def test_dry_run_takes_the_pending_lines_as_the_run_does(admin_client, sub):
    InvoiceLine.objects.create(
        customer=sub.customer,
        currency="USD",
        kind=LineKind.ONE_TIME,
        description="Onboarding",
        amount=Decimal("100.00"),
    )
    response = admin_client.post(run_url(), {"as_of": "2026-03-10T12:00", "_preview": "1"})
    [group] = response.context["preview"]["groups"]
    assert [line.description for line in group["lines"]][0] == "Onboarding"
    assert group["total"] == Decimal("160.00")
    assert "(pending one-time charge)" in response.content.decode()
    assert InvoiceLine.objects.filter(invoice__isnull=True).count() == 1


def test_dry_run_stops_at_a_scheduled_cancellation(admin_client, sub):
    subscription_cancel(subscription=sub, at=STARTED, when="period_end")
    response = admin_client.post(run_url(), {"as_of": "2026-03-10T12:00", "_preview": "1"})
    assert response.context["preview"]["line_count"] == 0


def test_dry_run_says_when_it_is_truncated(admin_client, monkeypatch, customer, plan):
    for _ in range(3):
        factories.subscription(customer=customer, plan=plan, at=STARTED)
    monkeypatch.setattr(admin_bill_runs, "PREVIEW_LIMIT", 2)
    response = admin_client.post(run_url(), {"as_of": "2026-03-10T12:00", "_preview": "1"})
    assert response.context["preview"]["truncated"]
    assert response.context["preview"]["subscriptions_seen"] == 2
    assert "Only the first 2 subscriptions" in response.content.decode()


def test_run_queues_a_bill_run_that_a_worker_bills(
    admin_client,
    admin_user,
    sub,
    settings,
    bill_run_tasks_inline,
    django_capture_on_commit_callbacks,
):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post(run_url(), {"as_of": "2026-03-10T12:00", "_run": "1"})
    run = BillRun.objects.get()
    assert run.status == "queued"
    assert response.status_code == 302
    assert "is queued" in " ".join(messages_of(admin_client.get(response.url)))
    for callback in queued:
        callback()
    assert bill_run_tasks_inline == ["billing.invoicing.tasks.bill_run_task"]
    run.refresh_from_db()
    assert response.status_code == 302
    assert response.url == admin_url(BillRun, "change", run.pk)
    assert (run.status, run.customers_seen, run.invoices_created, run.lines_created) == (
        "completed",
        1,
        1,
        2,
    )
    invoice = Invoice.objects.get(bill_run=run)
    assert (invoice.status, invoice.total) == ("open", Decimal("60.00"))
    assert BillingEvent.objects.filter(
        subject_id=str(invoice.pk), kind="invoice.created", actor=actor(admin_user)
    ).exists()
    page = admin_client.get(response.url)
    assert page.status_code == 200
    assert "1 / 1" in page.content.decode()  # progress: customers done / total


def test_run_with_a_bad_date_shows_the_form_again(admin_client):
    response = admin_client.post(run_url(), {"as_of": "soon", "_run": "1"})
    assert response.status_code == 200
    assert response.context["form"].errors["as_of"]
    assert not BillRun.objects.exists()


def test_support_may_not_run_billing(client):
    client.force_login(staff("sam", "support"))
    assert client.get(run_url()).status_code == 403
    assert client.post(run_url(), {"as_of": "2026-03-10T12:00", "_run": "1"}).status_code == 403
    assert not BillRun.objects.exists()
    page = client.get(admin_url(BillRun, "changelist"))
    assert page.status_code == 200
    assert run_url() not in page.content.decode()


def test_finance_runs_billing_and_acts_on_invoices(client, draft):
    client.force_login(staff("fay", "finance"))
    assert client.get(run_url()).status_code == 200
    assert client.get(admin_url(Subscription, "add")).status_code == 200
    act(client, Invoice, "finalize_selected", draft)
    draft.refresh_from_db()
    assert draft.status == "open"


def test_support_has_no_invoice_actions(client, draft):
    client.force_login(staff("sam", "support"))
    response = client.get(admin_url(Invoice, "changelist"))
    assert response.status_code == 200
    assert response.context["action_form"] is None
    act(client, Invoice, "finalize_selected", draft)
    draft.refresh_from_db()
    assert draft.status == "draft"
