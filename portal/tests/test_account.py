"""The overview (account at a glance) and plan terms pages, and the selectors behind them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import PaymentStatus
from billing.payments.services.collection import invoice_collect
from billing.payments.services.payments import payment_collect
from billing.tests import factories as billing_factories
from billing.tests.payment_helpers import card, open_invoice
from catalog import services as catalog_services
from customers.models import CustomerRole
from portal.selectors_account import (
    account_alerts,
    account_overview,
    charge_terms,
    limit_usages,
    usage_level,
    usage_percent,
)
from portal.tests.helpers import account
from provisioning.models import OverrideKind
from provisioning.selectors import customer_entitlement_list
from provisioning.services.overrides import entitlement_override_create
from provisioning.services.seats import seats_purchased
from provisioning.tests.entitlement_helpers import use

OVERVIEW = reverse("portal:overview")
TERMS = reverse("portal:terms")


def quota_limit(acme, catalog, limit: int) -> None:
    now = timezone.now()
    entitlement_override_create(
        customer=acme.customer,
        feature=catalog.quota,
        kind=OverrideKind.LIMIT,
        limit=limit,
        starts_at=now - timedelta(minutes=1),
        reason="test",
        at=now,
    )


# Selectors
@pytest.mark.parametrize(
    ("used", "limit", "percent", "level"),
    [
        ("0", 1000, "0.0", "ok"),
        ("799", 1000, "79.9", "ok"),
        ("800", 1000, "80.0", "near"),
        ("1000", 1000, "100.0", "over"),
        ("1500", 1000, "150.0", "over"),
        ("0", 0, "100", "over"),
    ],
)
def test_usage_percent_and_level(used, limit, percent, level):
    value = usage_percent(Decimal(used), limit)
    assert value == Decimal(percent)
    assert usage_level(value) == level


def test_unlimited_has_no_percent():
    assert usage_percent(Decimal(5), None) is None
    assert usage_level(None) == ""


def test_limit_usages_skip_on_off_features_and_fill_the_bar(acme, catalog):
    quota_limit(acme, catalog, 10)
    use(acme.subscription, "api_calls", 12, at=timezone.now())
    usages = {
        u.feature.code: u
        for u in limit_usages(customer_entitlement_list(customer=acme.customer, at=timezone.now()))
    }
    assert set(usages) == {"api_quota", "editor_seats"}
    assert usages["api_quota"].percent == Decimal("120.0")
    assert usages["api_quota"].level == "over"
    assert usages["api_quota"].bar_width == 100
    assert usages["editor_seats"].level == "ok"


def test_alerts_for_a_failed_payment_dunning_and_a_quota_near(acme, catalog):
    quota_limit(acme, catalog, 10)
    use(acme.subscription, "api_calls", 8, at=timezone.now())
    now = timezone.now()
    invoice = open_invoice(acme.customer, amount="40.00", at=now)
    card(acme.customer, token="tok_chargeDeclined", at=now)  # noqa: S106
    payment = payment_collect(invoice=invoice, at=now)
    assert payment.status == PaymentStatus.FAILED
    entitlements = customer_entitlement_list(customer=acme.customer, at=now)
    kinds = {
        a.kind: a
        for a in account_alerts(customer=acme.customer, usages=limit_usages(entitlements), at=now)
    }
    failed = kinds.pop("payment_failed")
    assert "Your card was declined." in failed.message
    assert "avoid a suspension" in failed.message  # a dunning case retries it
    assert failed.invoice_id == invoice.pk
    assert "dunning" not in kinds  # one alert per invoice
    assert kinds["quota_near"].level == "warn"
    assert "8 of 10" in kinds["quota_near"].message


def test_an_overdue_invoice_is_an_alert(acme):
    now = timezone.now()
    invoice = open_invoice(acme.customer, at=now - timedelta(days=60))
    assert invoice.due_at < now
    alerts = account_alerts(customer=acme.customer, usages=[], at=now)
    assert [(a.kind, a.invoice_id) for a in alerts] == [("invoice_overdue", invoice.pk)]


def test_no_alert_for_a_healthy_account(acme):
    overview = account_overview(customer=acme.customer, at=timezone.now())
    assert overview.alerts == []
    assert [s.subscription for s in overview.subscriptions] == [acme.subscription]


def test_charge_terms_show_tiers_and_unit_prices(catalog):
    plan = catalog_services.plan_create(
        code="metered",
        name="Metered",
        currency="USD",
        amount=Decimal("0"),
        charges=[
            {
                "metric": catalog.calls,
                "model": "graduated",
                "properties": {
                    "tiers": [
                        {"up_to": 1000, "unit_amount": "0", "flat_amount": "0"},
                        {"up_to": None, "unit_amount": "0.0025", "flat_amount": "5"},
                    ]
                },
            }
        ],
    )
    terms = charge_terms(plan.charges.get(), "USD")
    assert [(t.label, t.value) for t in terms.tiers] == [
        ("1 – 1,000", "0.00 USD each"),
        ("1,001 and above", "0.0025 USD each + 5.00 USD flat"),
    ]


# The overview page
def test_overview_shows_plan_status_period_next_invoice_usage_and_entitlements(acme, catalog):
    use(acme.subscription, "api_calls", 3, at=timezone.now())
    response = acme.client(CustomerRole.VIEWER).get(OVERVIEW)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Basic" in page
    assert "Active" in page
    assert "Next invoice" in page
    assert "10.00 USD" in page
    assert 'data-feature="api_quota"' in page
    assert "3 of 1000" in page
    assert 'role="progressbar"' in page
    assert "Sso" in page or "sso" in page  # the entitlements list
    assert "Needs your attention" not in page


def test_overview_alerts_link_to_pay_for_billing_managers_only(acme, catalog):
    now = timezone.now()
    invoice = open_invoice(acme.customer, at=now - timedelta(days=60))
    pay_url = reverse("portal:invoice_pay", args=[invoice.pk])
    billing_page = acme.client(CustomerRole.BILLING).get(OVERVIEW).content.decode()
    assert "Needs your attention" in billing_page
    assert "is overdue" in billing_page
    assert pay_url in billing_page
    viewer_page = acme.client(CustomerRole.VIEWER).get(OVERVIEW).content.decode()
    assert "is overdue" in viewer_page
    assert pay_url not in viewer_page


def test_overview_quota_near_shows_a_warning_bar(acme, catalog):
    quota_limit(acme, catalog, 10)
    use(acme.subscription, "api_calls", 9, at=timezone.now())
    page = acme.client().get(OVERVIEW).content.decode()
    assert 'data-alert="quota_near"' in page
    assert 'class="bar near"' in page
    assert '<rect width="90" height="1"/>' in page


def test_overview_is_only_the_signed_in_customers(acme, globex):
    page = acme.client().get(OVERVIEW).content.decode()
    assert "Pro" not in page  # globex's plan
    assert "Globex" not in page


def test_overview_needs_a_login_and_a_membership(client, acme, django_user_model):
    response = client.get(OVERVIEW)
    assert response.status_code == 302
    assert "/portal/login/" in response["Location"]
    outsider = django_user_model.objects.create_user("nobody", "nobody@example.com", "x")
    client.force_login(outsider)
    assert client.get(OVERVIEW).status_code == 403


def test_overview_refuses_post(acme):
    assert acme.client().post(OVERVIEW).status_code == 405


# The terms page
def test_terms_show_prices_usage_policy_addons_and_sla(acme, catalog):
    response = acme.client(CustomerRole.MEMBER).get(TERMS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "10.00 USD per month" in page
    assert "1,000 per billing period" in page  # the api quota
    assert "2 seats" in page
    assert "Not included" in page  # sso on basic
    assert "extra-calls" in page
    assert "5.00 USD monthly" in page
    assert "No service level agreement" in page


def test_terms_of_another_customer_never_show(acme, globex):
    page = acme.client().get(TERMS).content.decode()
    assert "5,000 per billing period" not in page  # globex's pro quota


def test_terms_show_the_plans_sla_and_its_credits(acme, catalog):
    from catalog.services import service_level_create

    level = service_level_create(
        code="gold",
        name="Gold SLA",
        uptime_target=Decimal("99.95"),
        response_time="4 business hours",
        credit_tiers=[
            {"below": "99.9", "credit_percent": "10"},
            {"below": "99", "credit_percent": "25"},
        ],
    )
    catalog.basic.service_level = level
    catalog.basic.save(update_fields=["service_level"])
    page = acme.client(CustomerRole.VIEWER).get(TERMS).content.decode()
    assert "Gold SLA" in page
    assert "99.95% uptime each month; support answers within 4 business hours." in page
    assert "below 99.9% uptime: 10%" in page
    assert "below 99% uptime: 25%" in page
    assert "No service level agreement" not in page


def test_terms_show_the_seats_bought_which_are_what_may_be_assigned(catalog):
    """Seats are per unit bought: 2 per unit × quantity 3 = 6 seats, on the terms page and
    when assigning (provisioning counts the same way)."""
    bought = account(catalog, "seatco", quantity=3)
    page = bought.client(CustomerRole.MEMBER).get(TERMS).content.decode()
    assert "6 seats (2 per unit × 3)" in page
    assert seats_purchased(customer=bought.customer, feature=catalog.seats) == 6


def test_an_incomplete_subscription_is_shown_with_an_alert_to_pay(catalog):
    now = timezone.now()
    customer = billing_factories.customer("initech")
    card(customer, token="tok_chargeDeclined", at=now)  # noqa: S106
    sub = billing_factories.subscription(customer=customer, plan=catalog.pro, at=now)
    invoice_collect(invoice_id=sub.first_invoice_id, at=now)
    overview = account_overview(customer=customer, at=now)
    assert [(s.subscription.pk, s.subscription.status) for s in overview.subscriptions] == [
        (sub.pk, "incomplete")
    ]
    (alert,) = [a for a in overview.alerts if a.kind == "payment_failed"]
    assert alert.invoice_id == sub.first_invoice_id
    assert "subscription starts once it is paid" in alert.message
    assert "23 hours" in alert.message
