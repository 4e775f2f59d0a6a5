import io
import re

import pytest
from django.conf import settings as settings_module
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from billing.models import PaymentMethod, Subscription
from billing.payments.services.collection import invoice_collect
from catalog.models import AddOn, Charge, Feature, Plan, Product
from customers.models import Customer, CustomerUser
from portal.management.commands.seed_demo import base_url
from portal.selectors_account import plan_terms
from provisioning.services.access import access_check
from provisioning.services.seats import seats_purchased

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


def test_seed_prints_links_to_the_host_served_and_where_emails_go(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "emails")
    out = io.StringIO()
    call_command("seed_demo", "--host", "0.0.0.0:9000", stdout=out)
    output = out.getvalue()
    assert "at http://127.0.0.1:9000/admin/" in output
    assert "at http://127.0.0.1:9000/portal/" in output
    assert f"Emails: written as files to {tmp_path / 'emails'}/" in output
    assert "8000" not in output


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("8080", "http://127.0.0.1:8080"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("localhost:8001", "http://localhost:8001"),
    ],
)
def test_the_printed_url_follows_runservers_addrport(host, url):
    assert base_url(host) == url


def test_the_demo_team_plan_sells_one_seat_per_unit():
    """soylent bought 5 seats: 5 are purchased, the terms page says 5."""
    seed()
    soylent = Customer.objects.get(external_id="soylent")
    seats = Feature.objects.get(code="seats")
    assert seats_purchased(customer=soylent, feature=seats) == 5
    sub = Subscription.objects.get(customer=soylent)
    policy = {row.feature_name: row.value for row in plan_terms(sub=sub, at=timezone.now()).policy}
    assert policy["Seats"] == "5 seats"


def test_the_readme_access_check_example_is_allowed_on_the_demo():
    readme = (settings_module.BASE_DIR / "README.md").read_text()
    example = re.search(
        r'"customer":\s*"(?P<customer>[\w-]+)", "feature": "(?P<feature>[\w-]+)"', readme
    )
    assert example, "the README shows an access check"
    seed()
    result = access_check(
        customer=example["customer"], feature_code=example["feature"], at=timezone.now()
    )
    assert (result.allowed, result.limit, result.used) == (True, 100_000, 600)


def test_the_root_links_admin_portal_and_api_docs(client):
    page = client.get("/")
    assert page.status_code == 200
    for link in ('href="/admin/"', 'href="/portal/"', 'href="/api/docs/"'):
        assert link in page.content.decode()


def test_dunders_declined_first_charge_leaves_it_incomplete_without_access():
    seed()
    sub = Subscription.objects.get(customer__external_id="dunder")
    assert invoice_collect(invoice_id=sub.first_invoice_id, at=timezone.now()) == "failed"
    sub.refresh_from_db()
    assert sub.status == "incomplete"
    assert not sub.customer.dunning_cases.exists()
