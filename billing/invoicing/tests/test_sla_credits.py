"""SLA credits: tiers, the credit of a period that missed its uptime, once per period."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from api.errors import Conflict, StateError
from billing.invoicing.services.credits import customer_balance
from billing.invoicing.services.sla import sla_credit_grant
from billing.models import BalanceTransaction, BillingEvent, SlaCredit
from billing.tests import factories
from catalog.models import ServiceLevel, sla_tiers_clean
from catalog.services import service_level_create

AT = datetime(2027, 1, 10, 12, tzinfo=UTC)
TIERS = [{"below": "99.9", "credit_percent": "10"}, {"below": "99", "credit_percent": "25"}]


@pytest.fixture
def gold(db):
    return service_level_create(
        code="gold", name="Gold", uptime_target=Decimal("99.95"), credit_tiers=TIERS
    )


def subscribed(level, currency="USD", amount="99.00", quantity=3, external_id="acme"):
    customer = factories.customer(external_id, currency=currency)
    plan = factories.plan(f"p-{external_id}", amount=amount, currency=currency)
    plan.service_level = level
    plan.save(update_fields=["service_level"])
    return factories.subscription(customer=customer, plan=plan, at=AT, quantity=quantity)


@pytest.mark.parametrize(
    ("uptime", "percent"),
    [("100", "0"), ("99.95", "0"), ("99.9", "0"), ("99.89", "10"), ("99", "10"), ("98.9", "25")],
)
def test_the_largest_tier_that_applies_is_owed(gold, uptime, percent):
    assert gold.credit_percent(Decimal(uptime)) == Decimal(percent)


@pytest.mark.parametrize(
    "tiers",
    [
        [{"below": "99.99", "credit_percent": "10"}],  # above the 99.95 target
        [{"below": "99", "credit_percent": "0"}],
        [{"below": "99", "credit_percent": "101"}],
        [{"below": "99.9", "credit_percent": "25"}, {"below": "99", "credit_percent": "10"}],
        [{"below": "99", "credit_percent": "10"}, {"below": "99", "credit_percent": "20"}],
        [{"below": "x", "credit_percent": "10"}],
        [{"credit_percent": "10"}],
        "not a list",
    ],
)
def test_bad_tiers_are_refused_with_a_clear_error(db, tiers):
    with pytest.raises(ValidationError) as error:
        service_level_create(
            code="bad", name="Bad", uptime_target=Decimal("99.95"), credit_tiers=tiers
        )
    assert "credit_tiers" in error.value.message_dict
    assert not ServiceLevel.objects.exists()


@given(
    st.lists(
        st.tuples(st.decimals("0.001", "99.95", places=3), st.decimals("0.01", "100", places=2)),
        max_size=5,
    ),
    st.decimals("0", "100", places=3),
)
def test_credit_never_falls_as_uptime_falls(pairs, uptime):
    belows = sorted({b for b, _ in pairs}, reverse=True)
    credits = sorted({c for _, c in pairs})[: len(belows)]
    belows = belows[: len(credits)]
    if len(credits) < len(belows):
        return
    tiers = [
        {"below": str(b), "credit_percent": str(c)} for b, c in zip(belows, credits, strict=True)
    ]
    level = ServiceLevel(
        uptime_target=Decimal("99.95"), credit_tiers=sla_tiers_clean(tiers, "99.95")
    )
    lower = max(uptime - Decimal("0.5"), Decimal(0))
    assert level.credit_percent(lower) >= level.credit_percent(uptime)
    assert 0 <= level.credit_percent(uptime) <= 100


def test_a_missed_period_is_credited_once_on_the_balance(gold):
    sub = subscribed(gold)
    after = AT + timedelta(days=40)
    credit = sla_credit_grant(subscription=sub, period_at=AT, uptime=Decimal("98.5"), at=after)
    assert (credit.credit_percent, credit.amount) == (Decimal("25"), Decimal("74.25"))  # 297 × 25%
    assert (credit.period_start, credit.period_end) == (
        datetime(2027, 1, 10, tzinfo=UTC),
        datetime(2027, 2, 10, tzinfo=UTC),
    )
    assert customer_balance(sub.customer, "USD") == Decimal("74.25")
    assert BalanceTransaction.objects.get().kind == "sla_credit"
    assert BillingEvent.objects.filter(kind="subscription.sla_credited").count() == 1
    with pytest.raises(Conflict):
        sla_credit_grant(
            subscription=sub, period_at=AT + timedelta(days=5), uptime=Decimal("50"), at=after
        )
    assert SlaCredit.objects.count() == 1


def test_jpy_is_rounded_once_to_whole_yen(gold):
    sub = subscribed(gold, currency="JPY", amount="1001", quantity=1, external_id="tokyo")
    credit = sla_credit_grant(
        subscription=sub, period_at=AT, uptime=Decimal("99.5"), at=AT + timedelta(days=40)
    )
    assert credit.amount == Decimal("100")  # 100.1 yen → 100


def test_nothing_is_owed_when_the_sla_was_met(gold):
    sub = subscribed(gold)
    assert (
        sla_credit_grant(
            subscription=sub, period_at=AT, uptime=Decimal("99.97"), at=AT + timedelta(days=40)
        )
        is None
    )
    assert not SlaCredit.objects.exists()
    assert not BalanceTransaction.objects.exists()


def test_refusals_change_nothing(gold):
    sub = subscribed(gold)
    with pytest.raises(StateError, match="not over yet"):
        sla_credit_grant(
            subscription=sub, period_at=AT, uptime=Decimal("90"), at=AT + timedelta(days=5)
        )
    with pytest.raises(ValidationError):
        sla_credit_grant(
            subscription=sub, period_at=AT, uptime=Decimal("101"), at=AT + timedelta(days=40)
        )
    plain = factories.subscription(
        customer=factories.customer("plain"), plan=factories.plan("plain"), at=AT
    )
    with pytest.raises(StateError, match="promises no SLA"):
        sla_credit_grant(
            subscription=plain, period_at=AT, uptime=Decimal("90"), at=AT + timedelta(days=40)
        )
    assert not SlaCredit.objects.exists()
    assert not BalanceTransaction.objects.exists()


def test_staff_grant_a_credit_in_the_admin(gold, client, admin_user):
    sub = subscribed(gold)
    data = {"subscription": sub.pk, "period_day": "2027-01-20", "uptime": "99.5", "note": "INC-7"}
    with time_machine.travel(AT + timedelta(days=40)):
        client.force_login(admin_user)  # a session of that day
        response = client.post("/admin/billing/slacredit/add/", data, follow=True)
        assert "was added successfully" in response.content.decode()
        again = client.post("/admin/billing/slacredit/add/", data, follow=True)
        assert "This period was credited already." in again.content.decode()
    credit = SlaCredit.objects.get()
    assert (credit.amount, credit.note) == (Decimal("29.70"), "INC-7")  # 297 × 10%
    assert credit.created_by.startswith("user:")


def test_an_uptime_monitor_reports_over_the_api(gold, api):
    sub = subscribed(gold)
    url = f"/api/v1/subscriptions/{sub.pk}/sla-credits/"
    body = {"period_at": "2027-01-15T00:00:00Z", "uptime": "99.5", "note": "monitor"}
    with time_machine.travel(AT + timedelta(days=40)):
        early = api.post(url, {**body, "period_at": "2027-02-15T00:00:00Z"}, format="json")
        created = api.post(url, body, format="json")
        again = api.post(url, body, format="json")
        bad = api.post(url, {**body, "uptime": "100.5"}, format="json")
    assert (early.status_code, early.json()["error"]["code"]) == (422, "period_not_ended")
    assert created.status_code == 201, created.json()
    assert created.json()["credited"] is True
    credit = created.json()["credit"]
    assert (credit["amount"], credit["currency"], credit["credit_percent"]) == (
        "29.70",
        "USD",
        "10.00",
    )
    assert credit["created_by"].startswith("api_key:")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_credited")
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "uptime"
    listed = api.get(url)
    assert [c["id"] for c in listed.json()] == [credit["id"]]


def test_a_met_sla_answers_200_and_credits_nothing(gold, api):
    sub = subscribed(gold)
    url = f"/api/v1/subscriptions/{sub.pk}/sla-credits/"
    with time_machine.travel(AT + timedelta(days=40)):
        response = api.post(url, {"period_at": AT.isoformat(), "uptime": "99.99"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"credited": False, "credit": None}
    assert not SlaCredit.objects.exists()
