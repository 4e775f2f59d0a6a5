import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from billing.models import PaymentMethod
from catalog.models import AddOn, Charge, Plan, Product
from customers.models import Customer, CustomerUser

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_builds_the_demo_and_prints_the_admin_login():
    output = seed()
    assert "Admin login: admin / admin-demo-pass" in output
    assert Product.objects.count() == 3
    assert Plan.objects.count() == 6
    assert set(Plan.objects.values_list("currency", flat=True)) == {"USD", "EUR"}
    assert set(Charge.objects.values_list("model", flat=True)) == {
        "graduated",
        "volume",
        "package",
        "percentage",
    }
    assert Plan.objects.filter(charges__isnull=True, amount__gt=0).exists()  # flat
    assert Customer.objects.count() == 20
    assert CustomerUser.objects.filter(role="owner").count() == 20
    cards = dict(PaymentMethod.objects.values_list("customer__external_id", "last4"))
    assert cards == {"massive": "4242", "dunder": "9995"}  # sandbox: pays, declines
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("admin-demo-pass")


def test_seed_twice_changes_nothing():
    seed()
    counts = [
        Plan.objects.count(),
        Customer.objects.count(),
        AddOn.objects.count(),
        Charge.objects.count(),
        get_user_model().objects.count(),
    ]
    output = seed()
    assert counts == [
        Plan.objects.count(),
        Customer.objects.count(),
        AddOn.objects.count(),
        Charge.objects.count(),
        get_user_model().objects.count(),
    ]
    assert "Admin login: admin (password as first set" in output


def test_seed_subscribes_and_provisions_four_demo_customers():
    from billing.models import Subscription
    from provisioning.models import CustomerAccess

    seed()
    subs = dict(Subscription.objects.values_list("customer__external_id", "status"))
    assert subs == {
        "massive": "active",
        "dunder": "active",
        "acme": "active",
        "soylent": "trialing",
    }
    active = CustomerAccess.objects.filter(status="active")
    assert set(active.values_list("customer__external_id", flat=True)) == set(subs)
    seed()
    assert Subscription.objects.count() == 4
