"""The billing event consumer: cursor, gaps, event → order mapping, once only, fast path."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from billing.events import services as billing_events
from billing.events.services import billing_event_record
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import BillingEvent
from billing.subscriptions.services import subscription_pause
from billing.tests import factories
from catalog.models import Entitlement
from catalog.tests import factories as catalog_factories
from provisioning import tasks
from provisioning.models import CustomerAccess, EventCursor, Order, ProvisionedEntitlement
from provisioning.services.orders import orders_run_due
from provisioning.services.sync import billing_events_consume

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def plans():
    sso = catalog_factories.feature(code="sso")
    audit = catalog_factories.feature(code="audit_log")
    basic, pro = factories.plan(code="basic", amount="0"), factories.plan(code="pro", amount="0")
    Entitlement.objects.create(plan=basic, feature=sso)
    Entitlement.objects.create(plan=pro, feature=sso)
    Entitlement.objects.create(plan=pro, feature=audit)
    return basic, pro


def _kinds(customer):
    return list(
        Order.objects.filter(customer=customer).order_by("pk").values_list("kind", flat=True)
    )


def _features(customer):
    rows = ProvisionedEntitlement.objects.filter(customer=customer, enabled=True)
    return set(rows.values_list("feature__code", flat=True))


def test_subscription_lifecycle_events_become_orders_in_order(plans):
    basic, pro = plans
    customer = factories.customer()
    sub = factories.subscription(customer=customer, plan=basic, at=AT)
    assert billing_events_consume(at=AT) > 0
    orders_run_due(at=AT)
    assert _kinds(customer) == ["activate"]
    assert CustomerAccess.objects.get(customer=customer).status == "active"
    assert _features(customer) == {"sso"}

    subscription_change(subscription=sub, plan=pro, at=AT + timedelta(days=1))
    billing_events_consume(at=AT + timedelta(days=1))
    orders_run_due(at=AT + timedelta(days=1))
    assert _features(customer) == {"sso", "audit_log"}

    sub.refresh_from_db()
    subscription_pause(subscription=sub, at=AT + timedelta(days=2))
    billing_events_consume(at=AT + timedelta(days=2))
    orders_run_due(at=AT + timedelta(days=2))
    assert CustomerAccess.objects.get(customer=customer).status == "suspended"

    sub.refresh_from_db()
    subscription_cancel(subscription=sub, at=AT + timedelta(days=3), when="immediately")
    billing_events_consume(at=AT + timedelta(days=3))
    orders_run_due(at=AT + timedelta(days=3))
    assert _kinds(customer) == ["activate", "change", "suspend", "cancel"]
    assert all(o.status == "completed" for o in Order.objects.filter(customer=customer))
    assert CustomerAccess.objects.get(customer=customer).deprovision_at is not None


def test_each_event_is_handled_once(plans):
    customer = factories.customer()
    factories.subscription(customer=customer, plan=plans[0], at=AT)
    billing_events_consume(at=AT)
    cursor = EventCursor.objects.get(consumer="provisioning")
    EventCursor.objects.filter(pk=cursor.pk).update(last_event_id=0)  # as if replayed
    billing_events_consume(at=AT)
    assert _kinds(customer) == ["activate"]
    assert billing_events_consume(at=AT) == 0


def test_invoice_paid_activates_only_a_customer_not_active_yet(plans):
    customer = factories.customer()
    sub = factories.subscription(customer=customer, plan=plans[0], at=AT)
    with transaction.atomic():
        paid = billing_event_record(kind="invoice.paid", subject=customer, at=AT, customer=customer)
    billing_events_consume(at=AT)
    orders = Order.objects.filter(customer=customer)
    assert [o.source_event.kind for o in orders] == ["subscription.activated"]  # already on its way
    orders_run_due(at=AT)
    with transaction.atomic():
        again = billing_event_record(
            kind="invoice.paid", subject=customer, at=AT, customer=customer
        )
    billing_events_consume(at=AT)
    assert Order.objects.filter(source_event__in=[paid, again]).count() == 0
    assert sub.pk


def test_invoice_paid_activates_when_no_activation_event_was_seen(plans):
    customer = factories.customer()
    factories.subscription(customer=customer, plan=plans[0], at=AT)
    last = BillingEvent.objects.order_by("-pk").first().pk
    EventCursor.objects.create(consumer="provisioning", last_event_id=last)
    with transaction.atomic():
        paid = billing_event_record(kind="invoice.paid", subject=customer, at=AT, customer=customer)
    billing_events_consume(at=AT)
    assert Order.objects.get(customer=customer).source_event == paid


def _event_with_id(pk, customer):
    """An event with a chosen id: the ids between it and the last are as if taken by
    transactions still open."""
    return BillingEvent.objects.create(
        id=pk,
        kind="customer.noted",
        occurred_at=AT,
        customer=customer,
        subject_type="customers.customer",
        subject_id=str(customer.pk),
    )


def test_a_gap_is_read_again_until_it_commits_or_expires():
    customer = factories.customer()
    with transaction.atomic():
        first = billing_event_record(kind="customer.noted", subject=customer, at=AT)
    billing_events_consume(at=AT)
    after = _event_with_id(first.pk + 3, customer)
    billing_events_consume(at=AT)
    cursor = EventCursor.objects.get(consumer="provisioning")
    assert cursor.last_event_id == after.pk
    assert [p["id"] for p in cursor.pending_ids] == [first.pk + 1, first.pk + 2]
    late = _event_with_id(first.pk + 1, customer)  # its transaction commits now
    assert billing_events_consume(at=AT + timedelta(minutes=1)) == 1
    cursor.refresh_from_db()
    assert [p["id"] for p in cursor.pending_ids] == [first.pk + 2]  # still waiting
    assert late.pk == first.pk + 1
    billing_events_consume(at=AT + timedelta(minutes=6))
    cursor.refresh_from_db()
    assert cursor.pending_ids == []  # rolled back: given up after the window


def test_a_late_commit_of_a_pending_id_is_handled(plans):
    customer = factories.customer()
    EventCursor.objects.create(
        consumer="provisioning",
        last_event_id=10**6,
        pending_ids=[{"id": 0, "since": AT.isoformat()}],
    )
    factories.subscription(customer=customer, plan=plans[0], at=AT)
    event = BillingEvent.objects.get(kind="subscription.activated", customer=customer)
    EventCursor.objects.filter(consumer="provisioning").update(
        pending_ids=[{"id": event.pk, "since": AT.isoformat()}]
    )
    billing_events_consume(at=AT)
    assert Order.objects.get(customer=customer).source_event == event
    assert EventCursor.objects.get(consumer="provisioning").pending_ids == []


def test_fast_path_queues_consumers_once_per_transaction(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.BILLING_EVENT_CONSUMERS = ["provisioning.tasks.billing_events_consume_task"]
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda path, **kw: queued.append(path))
    customer = factories.customer()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            billing_event_record(kind="customer.noted", subject=customer, at=AT)
            billing_event_record(kind="customer.noted", subject=customer, at=AT)
    assert queued == ["provisioning.tasks.billing_events_consume_task"]
    assert len([c for c in callbacks if c is billing_events.billing_event_consumers_queue]) == 1


def test_no_consumers_setting_queues_nothing(settings, django_capture_on_commit_callbacks):
    settings.BILLING_EVENT_CONSUMERS = []
    customer = factories.customer()
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            billing_event_record(kind="customer.noted", subject=customer, at=AT)
    assert billing_events.billing_event_consumers_queue not in callbacks


def test_consume_task_reads_and_runs(plans):
    customer = factories.customer()
    factories.subscription(customer=customer, plan=plans[0], at=AT)
    assert tasks.billing_events_consume_task() > 0
    assert Order.objects.get(customer=customer).status == "completed"
    assert tasks.orders_run_due_task() == 0
    assert tasks.deprovision_due_task() == 0


def test_a_renewal_becomes_a_renew_order_that_resyncs_entitlements(plans):
    from billing.invoicing.services.bill_runs import bill_customer

    basic, _ = plans
    customer = factories.customer()
    sub = factories.subscription(customer=customer, plan=basic, at=AT)
    billing_events_consume(at=AT)
    orders_run_due(at=AT)
    renewed = BillingEvent.objects.filter(kind="subscription.renewed", subject_id=sub.pk)
    assert not renewed.exists()  # the first period is an activation, not a renewal
    next_period = AT + timedelta(days=35)
    bill_customer(customer_id=customer.pk, as_of=next_period)
    bill_customer(customer_id=customer.pk, as_of=next_period)  # nothing moves twice
    sub.refresh_from_db()
    assert [e.payload["period_start"] for e in renewed] == [sub.current_period_start.isoformat()]
    billing_events_consume(at=next_period)
    orders_run_due(at=next_period)
    assert _kinds(customer) == ["activate", "renew"]
    renew = Order.objects.get(customer=customer, kind="renew")
    assert renew.status == "completed"
    assert _features(customer) == {"sso"}
