"""Every admin action of every ModelAdmin of our apps, for every staff group: allowed or
denied as the policy (reports/staff_groups.py) and the action's `allowed_permissions` say,
plus the key expectations written out; and every action run through the admin is recorded
with who and when (the admin log, and the billing event log's actor)."""

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from billing.models import BillingEvent, Invoice, InvoiceStatus, Subscription
from billing.tests import factories
from customers.models import Customer
from provisioning.models import Order, OrderStatus
from reports.staff_groups import OUR_APPS, STAFF_GROUPS, policy_allows
from reports.tests.console_helpers import AT, GROUPS, full_customer, order, staff_user

pytestmark = pytest.mark.django_db

# An action's permission -> the model permission it needs ("act": the actions that call
# services need the model's change permission; see billing/events/admin_mixins.py).
NEEDS = {"act": "change", "change": "change", "delete": "delete", "add": "add", "view": "view"}


def our_admins():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
    ]


def declared_actions(model_admin) -> dict[str, object]:
    """Every action the admin declares (its own and the site's), whoever the user."""
    return {name: func for func, name, _ in model_admin._get_base_actions()}


def expected(group: str, model, func) -> bool:
    """Allowed when the group's policy grants every permission the action needs (an action
    without permissions needs only access to the list: the view permission)."""
    opts = model._meta
    needs = [NEEDS[p] for p in getattr(func, "allowed_permissions", ())] or ["view"]
    rules = STAFF_GROUPS[group]
    return all(
        policy_allows(rules, opts.app_label, f"{need}_{opts.model_name}", opts.model_name)
        for need in needs
    )


@pytest.fixture
def requests_by_group():
    factory = RequestFactory()
    result = {}
    for group in GROUPS:
        request = factory.get("/admin/")
        request.user = staff_user(group)
        result[group] = request
    return result


def available(model_admin, request) -> set[str]:
    return set(model_admin.get_actions(request))


def test_the_policy_has_the_four_groups():
    assert set(STAFF_GROUPS) == set(GROUPS)
    assert Group.objects.filter(name__in=GROUPS).count() == 4


def test_every_action_for_every_group_follows_the_policy(requests_by_group):
    checked, mismatches = 0, []
    for model, model_admin in our_admins():
        actions = declared_actions(model_admin)
        for group, request in requests_by_group.items():
            got = available(model_admin, request)
            for name, func in actions.items():
                want = expected(group, model, func)
                checked += 1
                if (name in got) != want:
                    mismatches.append((group, model._meta.label, name, want))
    assert not mismatches
    assert checked > 150  # about fifty actions × four groups


@pytest.mark.parametrize(
    ("group", "model", "action", "allowed"),
    [
        # read-only runs nothing (also below, for every admin)
        ("read-only", "billing.invoice", "void_selected", False),
        ("read-only", "provisioning.order", "retry", False),
        # finance: money
        ("finance", "billing.payment", "refund_selected", True),
        ("finance", "billing.invoice", "void_selected", True),
        ("finance", "billing.invoice", "mark_uncollectible_selected", True),
        ("finance", "billing.subscription", "cancel_now", True),
        ("finance", "billing.dunningcase", "retry_now", True),
        ("finance", "provisioning.order", "retry", False),
        ("finance", "catalog.plan", "archive_selected", False),
        # operations: provisioning and the catalog
        ("operations", "provisioning.order", "retry", True),
        ("operations", "provisioning.order", "abandon", True),
        ("operations", "provisioning.fulfillmentstep", "approve", True),
        ("operations", "provisioning.driftfinding", "repair_selected", True),
        ("operations", "catalog.plan", "archive_selected", True),
        ("operations", "billing.payment", "refund_selected", False),
        ("operations", "billing.invoice", "void_selected", False),
        # support: customers only
        ("support", "customers.customer", "archive_selected", True),
        ("support", "billing.invoice", "void_selected", False),
        ("support", "billing.payment", "refund_selected", False),
        ("support", "billing.subscription", "cancel_now", False),
        ("support", "provisioning.order", "retry", False),
        # nobody deletes, nobody touches our API keys
        ("finance", "billing.invoice", "delete_selected", False),
        ("operations", "api.apikey", "revoke_selected", False),
    ],
)
def test_key_expectations(requests_by_group, group, model, action, allowed):
    from django.apps import apps

    model_admin = admin.site._registry[apps.get_model(model)]
    assert action in declared_actions(model_admin)
    assert (action in available(model_admin, requests_by_group[group])) is allowed


def test_read_only_cannot_run_any_action(requests_by_group):
    request = requests_by_group["read-only"]
    assert all(not available(ma, request) for _, ma in our_admins())


def test_state_machines_have_their_actions():
    """The transitions an operator needs, as actions (FSM fields are never edited)."""
    from django.apps import apps

    wanted = {
        "billing.subscription": {
            "cancel_now",
            "cancel_at_period_end_selected",
            "pause_selected",
            "resume_selected",
        },
        "billing.invoice": {
            "finalize_selected",
            "void_selected",
            "mark_paid_selected",
            "mark_uncollectible_selected",
        },
        "billing.payment": {"refund_selected", "approve_selected", "reject_selected"},
        "billing.dunningcase": {"retry_now", "close_selected"},
        "provisioning.order": {"retry", "abandon"},
        "provisioning.fulfillmentstep": {"skip", "approve", "retry"},
    }
    for label, names in wanted.items():
        model_admin = admin.site._registry[apps.get_model(label)]
        assert names <= set(declared_actions(model_admin)), label


# Through the admin: a denied group changes nothing; an allowed one is recorded
def post_action(client, changelist: str, action: str, pks: list[int]):
    return client.post(
        reverse(f"admin:{changelist}_changelist"), {"action": action, "_selected_action": pks}
    )


def test_denied_group_posting_an_action_changes_nothing(client):
    _, _, invoice = full_customer()
    client.force_login(staff_user("support"))
    post_action(client, "billing_invoice", "void_selected", [invoice.pk])
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.OPEN
    assert not LogEntry.objects.exists()


def test_finance_cancels_a_subscription_recorded_with_who_and_when(client):
    _, sub, _ = full_customer()
    user = staff_user("finance", name="fiona")
    client.force_login(user)
    confirmed = {"reason": "staff", "proration": "prorate", "_confirm": "1"}  # its page's form
    response = client.post(
        reverse("admin:billing_subscription_changelist"),
        {"action": "cancel_now", "_selected_action": [sub.pk], **confirmed},
    )
    assert response.status_code == 302
    assert Subscription.objects.get(pk=sub.pk).status == "canceled"
    entry = LogEntry.objects.get()
    assert (entry.user, entry.action_flag, entry.object_id) == (user, CHANGE, str(sub.pk))
    assert entry.get_change_message() == "Canceled (admin action)."
    assert entry.action_time is not None
    event = BillingEvent.objects.get(kind="subscription.canceled")
    assert event.actor == f"user:{user.pk}:fiona"


def test_refused_row_is_reported_and_not_logged(client):
    _, _, invoice = full_customer()  # open already: finalizing it again is refused
    client.force_login(staff_user("finance"))
    response = post_action(client, "billing_invoice", "finalize_selected", [invoice.pk])
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("not possible" in m for m in messages)
    assert not LogEntry.objects.exists()


def test_operations_retries_an_order_recorded(client):
    customer, _, _ = full_customer()
    failed = Order.objects.get(customer=customer, status=OrderStatus.FAILED)
    user = staff_user("operations", name="otto")
    client.force_login(user)
    post_action(client, "provisioning_order", "retry", [failed.pk])
    assert Order.objects.get(pk=failed.pk).status != OrderStatus.FAILED
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_id) == (user, str(failed.pk))
    assert "Retried" in entry.get_change_message()


def test_support_archives_a_customer_recorded(client):
    customer = factories.customer()
    user = staff_user("support")
    client.force_login(user)
    post_action(client, "customers_customer", "archive_selected", [customer.pk])
    assert Customer.objects.get(pk=customer.pk).is_archived
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_id) == (user, str(customer.pk))


def test_bulk_write_off_reports_each_refusal(client):
    c1, _, open1 = full_customer("one")
    c2, _, open2 = full_customer("two")
    order(c1)  # unrelated rows stay as they are
    client.force_login(staff_user("finance"))
    from billing.invoicing.services.invoices import invoice_void

    invoice_void(invoice=open2, at=AT)
    response = client.post(  # confirmed (the action asks for a reason first)
        reverse("admin:billing_invoice_changelist"),
        {
            "action": "mark_uncollectible_selected",
            "_selected_action": [open1.pk, open2.pk],
            "post": "yes",
            "reason": "insolvent",
        },
    )
    messages = [str(m) for m in response.wsgi_request._messages]
    assert Invoice.objects.get(pk=open1.pk).status == InvoiceStatus.UNCOLLECTIBLE
    assert Invoice.objects.get(pk=open2.pk).status == InvoiceStatus.VOID
    assert any(str(open2) in m and "not possible" in m for m in messages)
    assert "Written off: 1." in messages
    assert LogEntry.objects.filter(object_id=str(open1.pk)).count() == 1


# Every action records who ran it: an admin log entry, or the actor handed to the service
# (the billing event log, a finding's `repaired_by`, …).
RECORDS_WHO = ("log_change", "per_row(", "actor=request.user", "_repair(request")


def test_every_action_records_who_ran_it():
    import inspect

    missing = []
    for model, model_admin in our_admins():
        for name, func in declared_actions(model_admin).items():
            if name == "delete_selected":  # the admin logs deletions itself
                continue
            source = inspect.getsource(func)
            if not any(marker in source for marker in RECORDS_WHO):
                missing.append((model._meta.label_lower, name))
    assert missing == []
