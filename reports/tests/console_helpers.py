"""Building blocks of the console tests: staff users by group, a customer with some of
everything (subscription, invoices, payments, an order, a dunning case, events)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from billing.models import Payment, PaymentSource
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from provisioning.models import Order, OrderKind

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
GROUPS = ("finance", "operations", "support", "read-only")


def staff_user(group: str | None = None, *, name: str | None = None, perms: tuple = ()):
    """An active staff user in `group` (None: no group), with extra `perms` ("app.codename")."""
    user = get_user_model().objects.create_user(
        name or f"staff-{group or 'none'}", password="x", is_staff=True
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def payment(customer, *, status="succeeded", at=AT, amount="10.00", invoice=None):
    """A payment row in `status` (built directly: these tests read payments, not make them)."""
    failed = status == "failed"
    return Payment.objects.create(
        customer=customer,
        invoice=invoice,
        currency=customer.currency,
        amount=Decimal(amount),
        status=status,
        source=PaymentSource.AUTOMATIC,
        kind="card",
        created_at=at,
        succeeded_at=None if failed else at,
        failed_at=at if failed else None,
        failure_code="card_declined" if failed else "",
        failure_message="Your card was declined." if failed else "",
    )


def order(customer, *, status="received", at=AT, kind=OrderKind.ACTIVATE):
    row = Order.objects.create(customer=customer, kind=kind, created_at=at)
    if status != "received":  # test data: put it straight in the state to read
        Order.objects.filter(pk=row.pk).update(status=status)
        row.refresh_from_db()
    return row


def full_customer(external_id="acme", at=AT):
    """A customer on a 30.00 USD monthly plan with an open invoice overdue, a paid one, a
    failed and a succeeded payment and a failed order."""
    customer = factories.customer(external_id=external_id)
    plan = factories.plan(code=f"plan-{external_id}")
    sub = factories.subscription(customer=customer, plan=plan, at=at - timedelta(days=40))
    overdue = open_invoice(customer, amount="25.00", at=at - timedelta(days=40))
    payment(customer, status="failed", at=at - timedelta(hours=1), invoice=overdue)
    payment(customer, status="succeeded", at=at - timedelta(days=2))
    order(customer, status="failed", at=at - timedelta(hours=2))
    return customer, sub, overdue
