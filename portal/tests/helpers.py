"""A customer with a live subscription and portal logins, for the portal's tests."""

from dataclasses import dataclass
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from billing.models import Subscription
from billing.tests import factories
from customers.models import Customer, CustomerRole, CustomerUser
from customers.services import customer_user_add
from provisioning.services.accounts import account_activate
from provisioning.services.entitlements import entitlements_sync
from provisioning.tests.entitlement_helpers import Catalog, subscribe

PASSWORD = "portal-test-pass-9"  # noqa: S105 - test login


@dataclass
class Account:
    customer: Customer
    subscription: Subscription
    owner: CustomerUser

    def user(self, role: str = CustomerRole.OWNER, email: str | None = None) -> CustomerUser:
        """A login of this customer with `role` (made if new), password PASSWORD."""
        email = email or f"{role}@{self.customer.external_id}.example.com"
        return customer_user_add(customer=self.customer, email=email, role=role, password=PASSWORD)

    def client(self, role: str = CustomerRole.OWNER) -> Client:
        client = Client()
        client.force_login(self.user(role).user)
        return client


def account(catalog: Catalog, external_id: str = "acme", plan=None, **sub_kwargs) -> Account:
    """`external_id` subscribed (started 3 days ago) to `plan` (catalog.basic), activated
    and provisioned, with an owner login `owner@<external_id>.example.com`."""
    customer = factories.customer(external_id)
    start = timezone.now() - timedelta(days=3)
    sub = subscribe(customer, plan or catalog.basic, at=start, **sub_kwargs)
    account_activate(customer=customer, at=start)
    entitlements_sync(customer=customer, at=timezone.now())
    owner = customer_user_add(
        customer=customer,
        email=f"owner@{external_id}.example.com",
        role=CustomerRole.OWNER,
        password=PASSWORD,
    )
    return Account(customer=customer, subscription=sub, owner=owner)
