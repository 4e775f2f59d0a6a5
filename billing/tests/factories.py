from datetime import datetime
from decimal import Decimal

from billing.invoicing.services.subscription_billing import subscription_create
from catalog import services as catalog
from customers.services import customer_create


def customer(external_id="acme", currency="USD", timezone="UTC"):
    return customer_create(
        external_id=external_id,
        name=external_id.title(),
        email=f"{external_id}@example.com",
        currency=currency,
        timezone=timezone,
    )


def plan(code="pro", amount="30.00", currency="USD", **kwargs):
    return catalog.plan_create(
        code=code, name=code.title(), currency=currency, amount=Decimal(amount), **kwargs
    )


def subscription(*, customer, plan, at: datetime, **kwargs):
    return subscription_create(customer=customer, plan=plan, at=at, **kwargs)
