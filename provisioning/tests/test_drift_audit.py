"""Drift audit: each kind of finding built on purpose, a consistent database reports
nothing, a repair fixes the finding so the next run reports nothing, and the number of
queries does not grow with the number of customers."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import path

import provisioning.admin_audit  # noqa: F401 - registers the audit admin
from billing.models import BillingEvent, Subscription
from billing.tests import factories
from customers.services import customer_user_add
from provisioning.models import (
    DriftFinding,
    EntitlementOverride,
    EventCursor,
    ProvisionedEntitlement,
    SeatAssignment,
    ServiceKey,
)
from provisioning.services import accounts, audit
from provisioning.services.entitlements import entitlements_expected, entitlements_sync
from provisioning.tests.entitlement_helpers import AT, Catalog, subscribe

# The admin as config/urls.py serves it once provisioning/admin.py imports admin_audit.
urlpatterns = [path("admin/", admin.site.urls)]
pytestmark = pytest.mark.django_db
LATER = AT + timedelta(hours=1)
_customers = iter(range(10_000))


@pytest.fixture
def cat():
    return Catalog()


def customer():
    return factories.customer(external_id=f"drift-{next(_customers)}")


def provisioned_customer(cat, plan=None, **kwargs):
    """A paying customer provisioned exactly as billing says."""
    c = customer()
    subscribe(c, plan or cat.pro, **kwargs)
    accounts.account_activate(customer=c, at=AT)
    entitlements_sync(customer=c, at=AT)
    return c


def findings(at=LATER):
    run = audit.drift_audit_run(at=at)
    return run, sorted((f.customer_id, f.kind) for f in run.findings.all())


def repair_all(run, at=LATER):
    for finding in run.findings.all():
        audit.drift_repair(finding=finding, at=at, actor="ops@example.com")


def test_a_consistent_database_reports_nothing(cat):
    provisioned_customer(cat)
    provisioned_customer(cat, cat.basic, quantity=3)
    customer()  # never subscribed, never provisioned
    run, found = findings()
    assert found == []
    assert (run.customers_checked, run.findings_count, run.finished_at) == (3, 0, LATER)


def test_paid_without_access_is_found_and_repaired(cat):
    c = customer()
    subscribe(c, cat.pro)
    assert Subscription.objects.get(customer=c).status in ("active", "trialing")
    run, found = findings()
    assert found == [(c.pk, "paid_without_access")]
    assert run.findings.get().detail == "Paying subscription; access none."
    repair_all(run)
    finding = run.findings.get()
    assert (finding.repaired_at, finding.repaired_by) == (LATER, "ops@example.com")
    assert c.access.status == "active"
    assert ProvisionedEntitlement.objects.filter(customer=c).count() == 3
    assert findings()[1] == []


def test_a_suspended_account_of_a_paying_customer_is_restored(cat):
    c = provisioned_customer(cat)
    accounts.account_suspend(customer=c, at=AT)
    run, found = findings()
    assert found == [(c.pk, "paid_without_access")]
    repair_all(run)
    c.access.refresh_from_db()
    assert c.access.status == "active"
    assert findings()[1] == []


def test_access_without_payment_is_found_unless_in_grace_and_repaired(cat):
    c = customer()
    accounts.account_activate(customer=c, at=AT)
    in_grace = provisioned_customer(cat)
    Subscription.objects.filter(customer=in_grace).update(status="canceled")
    accounts.account_deprovision_schedule(
        customer=in_grace, deprovision_at=LATER + timedelta(days=7), at=AT
    )
    run, found = findings()
    assert found == [(c.pk, "access_without_payment")]
    assert "no trialing, active or past-due" in run.findings.get().detail
    repair_all(run)
    c.access.refresh_from_db()
    assert c.access.status == "suspended"
    assert findings()[1] == []
    # once the grace period is over, the canceled customer's access is drift too
    assert findings(at=LATER + timedelta(days=8))[1] == [(in_grace.pk, "access_without_payment")]


def test_entitlement_mismatch_names_the_features_and_sync_repairs_it(cat):
    c = provisioned_customer(cat)
    ProvisionedEntitlement.objects.filter(customer=c, feature=cat.quota).update(limit=99)
    ProvisionedEntitlement.objects.filter(customer=c, feature=cat.sso).delete()
    ProvisionedEntitlement.objects.create(customer=c, feature=cat.audit, enabled=True)
    run, found = findings()
    assert found == [(c.pk, "entitlement_mismatch")]
    assert run.findings.get().detail == (
        "api_quota: has on (99), billing says on (5000); "
        "audit_log: has on (unlimited), billing says off; "
        "sso: has off, billing says on (unlimited)"
    )
    repair_all(run)
    assert findings()[1] == []


def test_seats_over_purchased_are_found_and_the_newest_unassigned(cat):
    c = provisioned_customer(cat, cat.basic)  # 2 seats
    users = [customer_user_add(customer=c, email=f"u{n}@drift.example") for n in range(3)]
    for n, user in enumerate(users):
        SeatAssignment.objects.create(
            customer=c, feature=cat.seats, user=user, assigned_at=AT + timedelta(minutes=n)
        )
    run, found = findings()
    assert found == [(c.pk, "seats_over")]
    assert run.findings.get().detail == "editor_seats: 3 assigned, 2 sold."
    repair_all(run)
    assert set(SeatAssignment.objects.values_list("user", flat=True)) == {
        users[0].pk,
        users[1].pk,
    }
    assert findings()[1] == []


def test_usable_keys_of_a_deprovisioned_customer_are_revoked(cat):
    c = customer()
    accounts.account_activate(customer=c, at=AT)
    accounts.account_deprovision(customer=c, at=AT)
    key = ServiceKey.objects.create(
        customer=c, name="left over", prefix="sk_x", hashed_key="0" * 64, created_at=AT
    )
    ServiceKey.objects.create(  # expired: not usable, not a finding
        customer=c, name="old", prefix="sk_y", hashed_key="1" * 64, created_at=AT, expires_at=AT
    )
    run, found = findings()
    assert found == [(c.pk, "keys_while_suspended")]
    repair_all(run)
    key.refresh_from_db()
    assert key.revoked_at == LATER
    assert findings()[1] == []


def test_keys_while_billing_suspended_the_customer(cat):
    c = provisioned_customer(cat)
    ServiceKey.objects.create(
        customer=c, name="prod", prefix="sk_z", hashed_key="2" * 64, created_at=AT
    )
    Subscription.objects.filter(customer=c).update(status="suspended")
    run, found = findings()
    assert found == [(c.pk, "access_without_payment"), (c.pk, "keys_while_suspended")]
    repair_all(run)
    c.access.refresh_from_db()
    assert c.access.status == "suspended"
    assert findings()[1] == []


def test_customers_provisioning_is_still_working_on_are_not_drift(cat):
    c = customer()
    subscribe(c, cat.pro)
    last = BillingEvent.objects.filter(customer=c).latest("pk").pk
    EventCursor.objects.create(consumer="provisioning", last_event_id=last - 1)
    soon = AT + timedelta(minutes=5)
    assert findings(at=soon)[1] == []  # its last event is not read yet
    assert findings(at=LATER)[1] == [(c.pk, "paid_without_access")]  # the consumer is stuck
    EventCursor.objects.filter(consumer="provisioning").update(last_event_id=last)
    assert findings(at=soon)[1] == [(c.pk, "paid_without_access")]


def test_a_finding_that_no_longer_holds_is_closed_without_a_repair(cat):
    c = customer()
    subscribe(c, cat.pro)
    run, _ = findings()
    Subscription.objects.filter(customer=c).update(status="canceled")
    finding = audit.drift_repair(finding=run.findings.get(), at=LATER, actor=None)
    assert finding.repaired_by == "already consistent"
    assert not hasattr(c, "access") or c.access.status == "none"
    assert audit.drift_repair(finding=finding, at=LATER).repaired_at == LATER  # once


def test_bulk_expectation_equals_entitlements_expected(cat):
    a = provisioned_customer(cat, cat.basic, quantity=4)
    b = provisioned_customer(cat, cat.unlimited)
    EntitlementOverride.objects.create(
        customer=b, feature=cat.seats, kind="grant", limit=7, starts_at=AT
    )
    EntitlementOverride.objects.create(customer=a, feature=cat.sso, kind="revoke", starts_at=AT)
    many = audit._expected_many([a.pk, b.pk], at=LATER)
    assert many[a.pk] == entitlements_expected(customer=a, at=LATER)
    assert many[b.pk] == entitlements_expected(customer=b, at=LATER)


def test_the_number_of_queries_does_not_grow_with_customers(cat):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            audit.drift_audit_run(at=LATER)
        return len(queries)

    for _ in range(2):
        provisioned_customer(cat)
        subscribe(customer(), cat.basic)  # paid without access
    few = count_queries()
    for _ in range(6):
        provisioned_customer(cat)
        subscribe(customer(), cat.basic)
    assert count_queries() == few
    assert DriftFinding.objects.filter(kind="paid_without_access").count() == 2 + 8


@pytest.mark.urls(__name__)
def test_the_admin_report_runs_the_audit_and_repairs_with_one_click(cat, admin_client):
    report = "/admin/provisioning/driftauditrun/report/"
    assert "No audit has run yet" in admin_client.get(report).content.decode()
    c = customer()
    subscribe(c, cat.pro)
    response = admin_client.post("/admin/provisioning/driftauditrun/run/", follow=True)
    page = response.content.decode()
    assert "1 findings" in page
    assert "Paid subscription without access (1)" in page
    finding = DriftFinding.objects.get()
    response = admin_client.post(
        f"/admin/provisioning/driftauditrun/repair/{finding.pk}/", follow=True
    )
    assert response.status_code == 200
    finding.refresh_from_db()
    assert finding.repaired_by.startswith("user:")
    admin_client.post("/admin/provisioning/driftauditrun/run/")
    assert "No drift" in admin_client.get(report).content.decode()
    assert admin_client.get("/admin/provisioning/driftauditrun/").status_code == 200
    assert admin_client.get("/admin/provisioning/driftfinding/").status_code == 200
    assert admin_client.get("/admin/provisioning/driftauditrun/run/").status_code == 405


def test_the_lifecycle_through_the_event_log_and_orders_leaves_no_drift(cat):
    from billing.invoicing.services.changes import subscription_change
    from billing.invoicing.services.subscription_billing import subscription_cancel
    from billing.subscriptions.services import subscription_pause
    from provisioning.services.orders import deprovision_due, orders_run_due
    from provisioning.services.sync import billing_events_consume

    def settle_and_audit(at):
        billing_events_consume(at=at)
        orders_run_due(at=at)
        deprovision_due(at=at)
        return findings(at=at + timedelta(minutes=1))[1]

    c, other = customer(), customer()
    sub = subscribe(c, cat.basic, quantity=2)
    other_sub = subscribe(other, cat.pro)
    assert settle_and_audit(AT) == []
    assert c.access.status == "active"
    subscription_change(subscription=sub, plan=cat.pro, at=AT + timedelta(days=1))
    assert settle_and_audit(AT + timedelta(days=1)) == []
    sub.refresh_from_db()
    subscription_pause(subscription=sub, at=AT + timedelta(days=2))
    assert settle_and_audit(AT + timedelta(days=2)) == []
    subscription_cancel(subscription=other_sub, at=AT + timedelta(days=3), when="immediately")
    assert settle_and_audit(AT + timedelta(days=3)) == []  # in its grace period
    assert settle_and_audit(AT + timedelta(days=60)) == []  # deprovisioned after it
    other.access.refresh_from_db()
    assert other.access.status == "deprovisioned"
