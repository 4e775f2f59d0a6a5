"""MRR history rebuilt from each subscription's timeline (events, add-on and discount rows),
with subscriptions made and changed through billing's services so the events are real."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_fsm import TransitionNotAllowed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.errors import StateError
from billing.dunning import jobs as dunning_jobs
from billing.dunning import services as dunning
from billing.invoicing.services.bill_runs import bill_customer
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.discounts import coupon_create, discount_apply
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import DunningCampaign, Invoice, PaymentSource, Subscription
from billing.payments.services import payments
from billing.payments.services.collection import invoice_collect
from billing.payments.services.incomplete_jobs import subscriptions_incomplete_expire
from billing.subscriptions.services import subscription_pause, subscription_resume
from billing.tests import factories
from billing.tests.payment_helpers import card, customer_with_card, failed
from catalog import services as catalog
from reports.metrics.history import (
    mrr_rebuild_all,
    subscription_mrr_refresh,
    subscription_spans,
    subscriptions_mrr_refresh,
)
from reports.metrics.models import MrrSegment
from reports.metrics.selectors import mrr_at, mrr_movements_report

pytestmark = pytest.mark.django_db
D = Decimal
DAY = timedelta(days=1)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)
MAY = datetime(2026, 5, 1, tzinfo=UTC)


def refresh(*subs) -> None:
    for sub in subs:
        subscription_mrr_refresh(subscription_id=sub.pk, at=JAN)


def segments(sub) -> list[tuple]:
    """(start, end, MRR rounded to cents, churn) of `sub`, refreshed first."""
    refresh(sub)
    return [
        (s.start, s.end, s.mrr.quantize(D("0.01")), s.churn)
        for s in MrrSegment.objects.filter(subscription=sub).order_by("start")
    ]


def exact(sub) -> list[Decimal]:
    """The MRR of each segment of `sub` as stored (10 places), refreshed first."""
    refresh(sub)
    return [s.mrr for s in MrrSegment.objects.filter(subscription=sub).order_by("start")]


def places(value: Decimal) -> Decimal:
    return value.quantize(D("1E-10"))


def subscribe(customer, plan, at=JAN, **kwargs) -> Subscription:
    return factories.subscription(customer=customer, plan=plan, at=at, **kwargs)


def advance(sub, as_of) -> Subscription:
    bill_customer(customer_id=sub.customer_id, as_of=as_of)
    sub.refresh_from_db()
    return sub


def movements(first, last, **kwargs) -> dict:
    report = mrr_movements_report(first=first, last=last, currency="USD", **kwargs)
    return {m["month"]: m for m in report["months"]}


# -- Normalising to a month ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan_terms", "mrr"),
    [
        ({"amount": "1200.00", "interval": "year"}, D("100")),  # 1,200 a year
        ({"amount": "300.00", "interval": "month", "interval_count": 3}, D("100")),  # quarterly
        ({"amount": "10.00", "interval": "week"}, D("10") * 52 / 12),  # 43.33…
        ({"amount": "2000.00", "interval": "year"}, D("2000") / 12),  # 166.67
    ],
)
def test_mrr_of_a_plan_normalised_to_a_month(plan_terms, mrr):
    sub = subscribe(factories.customer(), factories.plan("p", **plan_terms))
    assert exact(sub) == [places(mrr)]
    assert segments(sub) == [(JAN, None, mrr.quantize(D("0.01")), "")]
    figures = mrr_at(at=JAN + DAY, currency="USD")
    assert figures["mrr"] == mrr.quantize(D("0.01"))
    assert figures["arr"] == (mrr * 12).quantize(D("0.01"))
    assert figures["subscriptions"] == 1


def test_the_worked_figures_of_the_issue():
    customer = factories.customer()
    subscribe(customer, factories.plan("yearly", amount="1200.00", interval="year"))
    subscribe(customer, factories.plan("quarter", amount="300.00", interval_count=3))
    mrr_rebuild_all(at=JAN)
    assert mrr_at(at=JAN, currency="USD") == {
        "mrr": D("200.00"),
        "arr": D("2400.00"),
        "subscriptions": 2,
    }
    assert mrr_at(at=JAN - DAY, currency="USD")["mrr"] == D("0.00")


def test_quantity_and_recurring_add_ons_count_one_time_fees_do_not():
    seats = catalog.addon_create(
        code="seats", name="Seats", currency="USD", amount=D("5.00"), interval="month"
    )
    setup = catalog.addon_create(
        code="setup", name="Setup", currency="USD", amount=D("99.00"), interval="one_time"
    )
    sub = subscribe(
        factories.customer(),
        factories.plan("team", amount="20.00"),
        quantity=2,
        addons=[{"addon": seats, "quantity": 3}, {"addon": setup, "quantity": 1}],
    )
    assert segments(sub) == [(JAN, None, D("55.00"), "")]  # 2 × 20 + 3 × 5
    # An add-on's quantity changes mid-month: its row ends and a new one starts.
    subscription_change(
        subscription=sub, at=JAN + 9 * DAY, addons=[{"addon": seats, "quantity": 1}]
    )
    assert segments(sub) == [
        (JAN, JAN + 9 * DAY, D("55.00"), ""),
        (JAN + 9 * DAY, None, D("45.00"), ""),
    ]


# -- Discounts -----------------------------------------------------------------------------


def coupon(code, **terms):
    return coupon_create(code=code, name=code, at=JAN, **terms)


def test_a_percent_coupon_reduces_mrr_from_when_it_applies():
    sub = subscribe(factories.customer(), factories.plan("pro", amount="100.00"))
    off = coupon("twenty", kind="percent", percent_off=D("20"), duration="forever")
    discount_apply(coupon=off, customer=sub.customer, subscription=sub, at=JAN + 9 * DAY)
    assert segments(sub) == [
        (JAN, JAN + 9 * DAY, D("100.00"), ""),
        (JAN + 9 * DAY, None, D("80.00"), ""),
    ]


def test_an_amount_coupon_for_the_customer_takes_its_amount_per_billing_interval():
    customer = factories.customer()
    monthly = subscribe(customer, factories.plan("pro", amount="100.00"))
    yearly = subscribe(customer, factories.plan("big", amount="1200.00", interval="year"))
    off = coupon("fifteen", kind="fixed", amount_off=D("15.00"), currency="USD", duration="forever")
    discount_apply(coupon=off, customer=customer, at=JAN)
    assert exact(monthly) == [D("85")]  # 15 off each monthly invoice
    assert exact(yearly) == [places(D("1185") / 12)]  # 15 off each yearly invoice
    other = factories.customer("other")
    sub = subscribe(other, factories.plan("p3", amount="10.00"))
    once = coupon("ten", kind="percent", percent_off=D("10"), duration="once")
    discount_apply(coupon=once, customer=other, at=JAN)
    assert exact(sub) == [D("10")]  # a once coupon never reduces MRR


def test_a_100_percent_coupon_makes_a_free_customer_and_a_repeating_one_expires():
    sub = subscribe(factories.customer(), factories.plan("pro", amount="100.00"))
    off = coupon(
        "two-months",
        kind="percent",
        percent_off=D("50"),
        duration="repeating",
        duration_in_periods=2,
    )
    discount_apply(coupon=off, customer=sub.customer, subscription=sub, at=JAN + 9 * DAY)
    advance(sub, FEB)  # the February invoice: first period of the discount
    advance(sub, MAR)  # March: its last; it ends with that invoice, paid for March
    assert segments(sub) == [
        (JAN, JAN + 9 * DAY, D("100.00"), ""),
        (JAN + 9 * DAY, APR, D("50.00"), ""),
        (APR, None, D("100.00"), ""),
    ]
    free = coupon("free", kind="percent", percent_off=D("100"), duration="forever")
    discount_apply(coupon=free, customer=sub.customer, subscription=sub, at=MAY + 4 * DAY)
    assert segments(sub)[-1] == (APR, MAY + 4 * DAY, D("100.00"), "")
    may = movements("2026-05", "2026-05")["2026-05"]
    assert (may["start"], may["churn"], may["end"]) == (D("100.00"), D("100.00"), D("0.00"))


# -- Trials, statuses ----------------------------------------------------------------------


def test_a_trial_counts_nothing_until_it_converts():
    sub = subscribe(factories.customer(), factories.plan("trial", amount="30.00", trial_days=14))
    assert sub.status == "trialing"
    assert segments(sub) == []
    advance(sub, JAN + 14 * DAY)
    assert sub.status == "active"
    assert segments(sub) == [(JAN + 14 * DAY, None, D("30.00"), "")]
    assert mrr_at(at=JAN + 13 * DAY, currency="USD")["mrr"] == D("0.00")
    assert mrr_at(at=JAN + 14 * DAY, currency="USD")["mrr"] == D("30.00")


def test_a_pause_counts_nothing_until_resumed():
    sub = subscribe(factories.customer(), factories.plan("pro", amount="30.00"))
    subscription_pause(subscription=sub, at=JAN + 5 * DAY)
    subscription_resume(subscription=sub, at=JAN + 20 * DAY)
    assert segments(sub) == [
        (JAN, JAN + 5 * DAY, D("30.00"), ""),
        (JAN + 20 * DAY, None, D("30.00"), ""),
    ]


def test_a_later_start_counts_from_its_start_and_a_backdated_one_from_its_start():
    customer = factories.customer()
    later = subscribe(customer, factories.plan("pro", amount="30.00"), start_at=FEB)
    assert later.status == "pending"
    assert segments(later) == []
    advance(later, FEB)
    assert segments(later) == [(FEB, None, D("30.00"), "")]
    # Created in March, started in January: `created` (pending) is recorded before
    # `activated` (dated January): the later record wins.
    back = subscribe(customer, factories.plan("max", amount="50.00"), at=MAR, start_at=JAN)
    assert segments(back) == [(JAN, None, D("50.00"), "")]


def test_a_failed_first_charge_counts_nothing_until_paid_and_never_if_it_expires():
    paid_later, _ = customer_with_card("paid", token="tok_chargeDeclinedInsufficientFunds")
    never, _ = customer_with_card("never", token="tok_chargeDeclinedInsufficientFunds")
    plan = factories.plan("pro", amount="30.00")
    subs = [subscribe(customer, plan) for customer in (paid_later, never)]
    for sub in subs:
        assert invoice_collect(invoice_id=sub.first_invoice_id, at=JAN) == "failed"
    good = card(paid_later, token="tok_visa")
    invoice = Invoice.objects.get(pk=subs[0].first_invoice_id)
    payments.payment_collect(
        invoice=invoice, at=JAN + 2 * DAY, source=PaymentSource.PORTAL, method=good
    )
    assert subscriptions_incomplete_expire(at=JAN + 2 * DAY) == 1
    # Active, then incomplete at once (the charge failed at its start): from the payment on.
    assert segments(subs[0]) == [(JAN + 2 * DAY, None, D("30.00"), "")]
    assert segments(subs[1]) == []


# -- Changes -------------------------------------------------------------------------------


def test_an_upgrade_mid_month_is_an_expansion():
    customer = factories.customer()
    basic = factories.plan("basic", amount="30.00")
    pro = factories.plan("pro", amount="50.00")
    sub = subscribe(customer, basic, at=JAN - 31 * DAY)  # December
    subscription_change(subscription=sub, plan=pro, at=JAN + 14 * DAY)
    assert segments(sub) == [
        (JAN - 31 * DAY, JAN + 14 * DAY, D("30.00"), ""),
        (JAN + 14 * DAY, None, D("50.00"), ""),
    ]
    january = movements("2026-01", "2026-01")["2026-01"]
    assert (january["start"], january["expansion"], january["end"]) == (
        D("30.00"),
        D("20.00"),
        D("50.00"),
    )


def test_a_quantity_change_at_the_period_end_applies_at_the_boundary():
    sub = subscribe(factories.customer(), factories.plan("seat", amount="10.00"), quantity=5)
    subscription_change(subscription=sub, quantity=3, when="period_end", at=JAN + 10 * DAY)
    assert segments(sub) == [(JAN, None, D("50.00"), "")]  # nothing happened yet
    advance(sub, FEB)
    assert segments(sub) == [(JAN, FEB, D("50.00"), ""), (FEB, None, D("30.00"), "")]
    assert movements("2026-02", "2026-02")["2026-02"]["contraction"] == D("20.00")


def test_plan_versions_resolve_to_the_version_chosen_at_the_time():
    customer = factories.customer()
    pro = factories.plan("pro", amount="30.00")
    other = factories.plan("max", amount="80.00")
    sub = subscribe(customer, pro)
    subscribe(factories.customer("stays"), pro)  # keeps version 1 in use
    subscription_change(subscription=sub, plan=other, at=JAN + 9 * DAY)
    # pro gets a new version (40.00): the history before the change keeps version 1.
    pro_v2 = catalog.plan_update(plan=pro, amount=D("40.00"))
    assert (pro_v2.code, pro_v2.version) == ("pro", 2)
    assert segments(sub) == [
        (JAN, JAN + 9 * DAY, D("30.00"), ""),
        (JAN + 9 * DAY, None, D("80.00"), ""),
    ]
    # Another subscription on version 1 moves to version 2 (same code).
    moving = subscribe(factories.customer("movers"), factories.plan("solo", amount="5.00"))
    moving = subscription_change(subscription=moving, plan=pro_v2, at=JAN + 2 * DAY).subscription
    assert segments(moving)[-1] == (JAN + 2 * DAY, None, D("40.00"), "")


def test_a_quantity_change_keeps_the_plan_version():
    pro = factories.plan("pro", amount="30.00")
    sub = subscribe(factories.customer(), pro)
    subscription_change(subscription=sub, quantity=2, at=JAN + 4 * DAY)
    catalog.plan_update(plan=pro, amount=D("45.00"))  # version 2, after both events
    subscription_change(subscription=sub, quantity=3, at=JAN + 8 * DAY)
    assert segments(sub) == [
        (JAN, JAN + 4 * DAY, D("30.00"), ""),
        (JAN + 4 * DAY, JAN + 8 * DAY, D("60.00"), ""),
        (JAN + 8 * DAY, None, D("90.00"), ""),
    ]


# -- Churn ---------------------------------------------------------------------------------


def test_a_cancellation_at_the_period_end_churns_at_the_period_end():
    sub = subscribe(factories.customer(), factories.plan("pro", amount="30.00"))
    subscription_cancel(subscription=sub, at=JAN + 19 * DAY, when="period_end")
    assert segments(sub) == [(JAN, None, D("30.00"), "")]  # runs until the bill run ends it
    advance(sub, FEB + DAY)
    assert sub.status == "canceled"
    assert segments(sub) == [(JAN, FEB, D("30.00"), "voluntary")]
    report = movements("2026-01", "2026-02")
    assert (report["2026-01"]["new"], report["2026-01"]["churn"]) == (D("30.00"), D("0.00"))
    assert report["2026-02"]["churn"] == report["2026-02"]["voluntary_churn"] == D("30.00")
    assert report["2026-02"]["end"] == D("0.00")


def test_an_immediate_cancellation_with_credit_churns_now_without_it_at_the_paid_end():
    customer = factories.customer()
    credited = subscribe(customer, factories.plan("pro", amount="30.00"))
    kept = subscribe(customer, factories.plan("max", amount="50.00"))
    subscription_cancel(subscription=credited, at=JAN + 9 * DAY, when="immediately")
    subscription_cancel(subscription=kept, at=JAN + 9 * DAY, when="immediately", proration="none")
    assert segments(credited) == [(JAN, JAN + 9 * DAY, D("30.00"), "voluntary")]
    assert segments(kept) == [(JAN, FEB, D("50.00"), "voluntary")]  # paid through February 1


def test_cancelling_one_of_two_subscriptions_is_a_contraction_the_last_is_churn():
    customer = factories.customer()
    first = subscribe(customer, factories.plan("pro", amount="30.00"), at=JAN - 31 * DAY)
    second = subscribe(customer, factories.plan("max", amount="50.00"), at=JAN - 31 * DAY)
    subscription_cancel(subscription=first, at=JAN + 9 * DAY, when="immediately")
    subscription_cancel(subscription=second, at=FEB + 9 * DAY, when="immediately")
    refresh(first, second)
    report = movements("2026-01", "2026-02")
    assert (report["2026-01"]["contraction"], report["2026-01"]["churn"]) == (
        D("30.00"),
        D("0.00"),
    )
    assert (report["2026-02"]["contraction"], report["2026-02"]["churn"]) == (
        D("0.00"),
        D("50.00"),
    )


def test_a_former_customer_returning_is_a_reactivation():
    customer = factories.customer()
    old = subscribe(customer, factories.plan("pro", amount="30.00"))
    subscription_cancel(subscription=old, at=JAN + 9 * DAY, when="immediately")
    again = subscribe(customer, factories.plan("max", amount="50.00"), at=MAR + 9 * DAY)
    refresh(old, again)
    report = movements("2026-01", "2026-03")
    assert report["2026-01"]["new"] == D("0.00")  # joined and left within January
    assert report["2026-03"]["reactivation"] == D("50.00")
    assert report["2026-03"]["new"] == D("0.00")


def _dunning_exhausted(sub, action: str, at: datetime) -> datetime:
    """Fail the subscription's invoice through dunning until its final `action`; when."""
    Subscription.objects.filter(pk=sub.pk).update(first_invoice=None)
    invoice = Invoice.objects.get(customer=sub.customer)
    DunningCampaign.objects.filter(code="default").update(final_action=action)
    case = dunning.dunning_payment_failed(invoice=invoice, payment=failed(invoice, at=at), at=at)
    for days in (1, 3, 5, 7):
        moment = at + days * DAY
        dunning.dunning_payment_failed(
            invoice=invoice, payment=failed(invoice, "dunning", at=moment), at=moment
        )
    end = at + 7 * DAY
    assert dunning_jobs.dunning_final_action(case_id=case.pk, at=end)
    return end


def test_dunning_ends_are_involuntary_churn():
    december = JAN - 31 * DAY
    sub = subscribe(factories.customer(), factories.plan("pro", amount="30.00"), at=december)
    end = _dunning_exhausted(sub, "cancel", JAN + 2 * DAY)
    assert segments(sub) == [(december, end, D("30.00"), "involuntary")]  # past_due counts
    report = movements("2026-01", "2026-01")["2026-01"]
    assert (report["involuntary_churn"], report["voluntary_churn"]) == (D("30.00"), D("0.00"))


def test_a_dunning_suspension_is_involuntary_churn_too():
    sub = subscribe(factories.customer(), factories.plan("pro", amount="30.00"))
    end = _dunning_exhausted(sub, "suspend", JAN + 2 * DAY)
    assert segments(sub) == [(JAN, end, D("30.00"), "involuntary")]


# -- A subscription without events, rebuilds -----------------------------------------------


def test_a_subscription_without_events_gets_its_timeline_from_its_row():
    plan = factories.plan("trial", amount="30.00", trial_days=10)
    sub = Subscription(
        pk=1,
        customer=factories.customer(),
        plan=plan,
        currency="USD",
        quantity=1,
        start_at=JAN,
        trial_end_at=JAN + 10 * DAY,
        status="canceled",
        ended_at=FEB,
        churn="voluntary",
    )
    spans = subscription_spans(sub=sub, events=[], addon_rows=[], discounts=[], plan_versions={})
    assert [(s.start, s.end, s.mrr, s.churn) for s in spans] == [
        (JAN + 10 * DAY, FEB, D("30.00"), "voluntary")
    ]


def _history() -> list[tuple]:
    return list(
        MrrSegment.objects.order_by("subscription_id", "start").values_list(
            "subscription_id", "customer_id", "currency", "start", "end", "mrr", "churn"
        )
    )


def test_rebuilt_from_scratch_equals_the_history_kept_step_by_step():
    customer, other = factories.customer(), factories.customer("other")
    pro = factories.plan("pro", amount="30.00")
    yearly = factories.plan("big", amount="1000.00", interval="year")
    kept = []

    def step(sub):
        refresh(sub)  # what the consumer does after each event
        kept.append(sub)
        return sub

    a = step(subscribe(customer, pro, at=JAN - 31 * DAY))
    b = step(subscribe(customer, yearly))
    c = step(subscribe(other, pro, trial_days=7))
    step(subscription_change(subscription=a, quantity=3, at=JAN + 3 * DAY).subscription)
    off = coupon("ten", kind="percent", percent_off=D("10"), duration="forever")
    discount_apply(coupon=off, customer=customer, at=JAN + 5 * DAY)
    step(a)
    step(b)
    step(advance(c, FEB))
    step(subscription_cancel(subscription=b, at=FEB + 3 * DAY, when="immediately"))
    incremental = _history()
    assert incremental
    assert mrr_rebuild_all(at=MAR) == len(incremental)
    assert _history() == incremental


def test_many_subscriptions_refresh_at_once_in_a_fixed_number_of_queries():
    plans = [factories.plan(f"p{n}", amount=f"{10 + n}.00") for n in range(3)]
    off = coupon("five", kind="percent", percent_off=D("5"), duration="forever")
    subs = []
    for n in range(6):
        customer = factories.customer(f"c{n}")
        subs.append(subscribe(customer, plans[n % 3]))
        if n % 2:
            discount_apply(coupon=off, customer=customer, at=JAN + n * DAY)
    subscription_change(subscription=subs[0], quantity=2, at=JAN + 3 * DAY)
    refresh(*subs)
    one_by_one = _history()

    def queries(ids) -> int:
        with CaptureQueriesContext(connection) as captured:
            subscriptions_mrr_refresh(subscription_ids=ids, at=JAN)
        return len(captured.captured_queries)

    assert queries([s.pk for s in subs[:2]]) == queries([s.pk for s in subs])
    assert _history() == one_by_one
    assert subscriptions_mrr_refresh(subscription_ids=[], at=JAN) == 0


# -- Property: any timeline of billing operations ------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["subscribe", "upgrade", "seats", "cancel_now", "cancel_end", "pause"]),
        st.integers(0, 2),  # customer
        st.integers(0, 100),  # days after January 1
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_movements_identity_and_rebuild_hold_for_generated_timelines(operations):
    with transaction.atomic():
        _timeline_checked(operations)
        transaction.set_rollback(True)


def _operate(kind, customer, live, subs, at, basic, pro) -> None:
    if kind == "subscribe" or not live:
        subs.append(subscribe(customer, basic, at=at))
        return
    sub = live[-1]
    if kind == "upgrade" and sub.plan_id == basic.pk:
        subscription_change(subscription=sub, plan=pro, at=at)
    elif kind == "seats":
        subscription_change(subscription=sub, quantity=sub.quantity + 1, at=at)
    elif kind == "cancel_now":
        subscription_cancel(subscription=sub, at=at, when="immediately")
    elif kind == "cancel_end":
        subscription_cancel(subscription=sub, at=at, when="period_end")
    elif kind == "pause":
        subscription_pause(subscription=sub, at=at)


def _timeline_checked(operations) -> None:
    customers = [factories.customer(f"c{n}") for n in range(3)]
    basic = factories.plan("basic", amount="19.99")
    pro = factories.plan("pro", amount="49.50")
    subs: dict[int, list[Subscription]] = {n: [] for n in range(3)}
    for kind, n, days in sorted(operations, key=lambda op: op[2]):
        at = JAN + days * DAY
        bill_customer(customer_id=customers[n].pk, as_of=at)  # renewals up to now
        live = [s for s in subs[n] if s.status in ("active", "past_due", "paused")]
        try:
            with transaction.atomic():
                _operate(kind, customers[n], live, subs[n], at, basic, pro)
        except (ValidationError, StateError, TransitionNotAllowed):
            pass  # not allowed in that state: the timeline goes on without it
        for sub in subs[n]:
            sub.refresh_from_db()
    for sub in Subscription.objects.all():
        advance(sub, MAY)
    for sub in Subscription.objects.all():
        refresh(sub)
    incremental = _history()
    mrr_rebuild_all(at=MAY)
    assert _history() == incremental
    report = mrr_movements_report(first="2025-12", last="2026-05", currency="USD")
    for month in report["months"]:
        assert month["end"] == (
            month["start"]
            + month["new"]
            + month["expansion"]
            + month["reactivation"]
            - month["contraction"]
            - month["churn"]
        ), month
        assert month["churn"] == month["voluntary_churn"] + month["involuntary_churn"]
    for before, after in zip(report["months"], report["months"][1:], strict=False):
        assert after["start"] == before["end"]
    # Each month's end is the MRR of its last instant.
    for month in report["months"]:
        year, number = map(int, month["month"].split("-"))
        next_month = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
        moment = next_month - timedelta(microseconds=1)
        per_customer = [
            mrr_at(at=moment, currency="USD", customer=customer)["mrr"] for customer in customers
        ]
        assert month["end"] == sum(per_customer)
