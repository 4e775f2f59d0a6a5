"""Coupons and discounts: validation, redemption limits, discount lines across bill runs,
currency rounding, idempotency per invoice, and the API."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse

from billing.invoicing.services import bill_runs
from billing.invoicing.services import discounts as d
from billing.invoicing.services import invoices as invoicing
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import BillingEvent, Coupon, Discount, Invoice, InvoiceLine
from billing.tests import factories

pytestmark = pytest.mark.django_db
D = Decimal


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


AT = utc(2027, 1, 1)


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


# --- Helpers ---
def coupon(code="SAVE20", kind="percent", duration="forever", **kwargs) -> Coupon:
    if kind == "percent":
        kwargs.setdefault("percent_off", D(20))
    return d.coupon_create(
        code=code, name=code.title(), kind=kind, duration=duration, at=AT, **kwargs
    )


def run(*args):
    return bill_runs.bill_run_execute(as_of=utc(*args), at=utc(*args))


def discount_lines(**filters) -> list[tuple[str, Decimal]]:
    return [
        (ln.description, ln.amount)
        for ln in InvoiceLine.objects.filter(
            billing_key__startswith="discount:", **filters
        ).order_by("invoice_id", "pk")
    ]


def invoice_nets() -> list[Decimal]:
    """Each invoice's total after discounts, in billing order (whether the discount lines sit
    in `subtotal` or are summed up in `discount`)."""
    return [inv.subtotal - inv.discount for inv in Invoice.objects.order_by("pk")]


def _add_discount_lines(invoice: Invoice, at: datetime) -> None:
    """Add a draft's discount lines by hand (as invoice creation does)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != "draft":
            return
        lines = list(invoice.lines.all())
        new = d.invoice_discount(invoice=invoice, lines=lines, at=at)
        for position, line in enumerate(new, start=len(lines)):
            line.invoice, line.position = invoice, position
        InvoiceLine.objects.bulk_create(new)
        invoicing.invoice_totals(invoice, [*lines, *new])
        invoice.save()


def error_of(exc_info) -> tuple[str, str]:
    ((field, errors),) = exc_info.value.error_dict.items()
    return field, errors[0].code


@pytest.fixture
def customer(db):
    return factories.customer(external_id="acme")


@pytest.fixture
def plan(db):
    return factories.plan(amount="30.00")


def monthly_runs(months: int):
    for month in range(2, 2 + months):
        run(2027, month, 10)


# --- Coupons ---
@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"percent_off": D(150)}, "percent_off", "out_of_range"),
        ({"percent_off": D(0)}, "percent_off", "out_of_range"),
        ({"percent_off": None}, "percent_off", "out_of_range"),
        ({"amount_off": D(5)}, "amount_off", "not_allowed"),
        ({"kind": "fixed", "amount_off": D(5)}, "currency", "required"),
        (
            {"kind": "fixed", "amount_off": D("1.0005"), "currency": "KWD"},
            "amount_off",
            "too_many_decimal_places",
        ),
        (
            {"kind": "fixed", "amount_off": D("0.5"), "currency": "JPY"},
            "amount_off",
            "too_many_decimal_places",
        ),
        ({"kind": "fixed", "currency": "USD"}, "amount_off", "min_value"),
        ({"kind": "fixed", "amount_off": D(5), "currency": "EURO"}, "currency", "max_length"),
        ({"duration": "repeating"}, "duration_in_periods", "required"),
        ({"duration": "once", "duration_in_periods": 2}, "duration_in_periods", "not_allowed"),
        ({"duration": "sometimes"}, "duration", "invalid_choice"),
        ({"code": "no spaces"}, "code", "invalid_code"),
    ],
)
def test_invalid_coupons_are_refused(db, kwargs, field, code):
    args = {"code": "C1", "kind": "percent", "duration": "forever", "percent_off": D(10)}
    if kwargs.get("kind") == "fixed":
        args.pop("percent_off")
    args.update(kwargs)
    with pytest.raises(ValidationError) as exc:
        d.coupon_create(name="C", at=AT, **args)
    assert code in [e.code for e in exc.value.error_dict[field]], exc.value
    assert not Coupon.objects.exists()


def test_coupon_codes_are_unique(db):
    coupon("SAVE20")
    with pytest.raises(ValidationError) as exc:
        coupon("SAVE20")
    assert error_of(exc) == ("code", "unique")


def test_coupon_update_keeps_the_terms(db):
    promo = coupon()
    promo = d.coupon_update(coupon=promo, at=AT, name="Spring", active=False)
    assert (promo.name, promo.active) == ("Spring", False)
    with pytest.raises(ValidationError) as exc:
        d.coupon_update(coupon=promo, at=AT, percent_off=D(50))
    assert error_of(exc) == ("percent_off", "read_only")


# --- Redemption ---
def test_max_redemptions(plan):
    promo = coupon(max_redemptions=1)
    d.discount_apply(coupon=promo, customer=factories.customer(external_id="a"), at=AT)
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=promo, customer=factories.customer(external_id="b"), at=AT)
    assert error_of(exc) == ("coupon", "coupon_exhausted")


def test_redeem_by(customer):
    promo = coupon(redeem_by=utc(2027, 1, 31, 23, 59))
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=promo, customer=customer, at=utc(2027, 2, 1))
    assert error_of(exc) == ("coupon", "coupon_expired")
    assert d.discount_apply(coupon=promo, customer=customer, at=utc(2027, 1, 31, 23, 59))


def test_inactive_coupon_and_double_redemption_are_refused(customer):
    promo = coupon()
    d.discount_apply(coupon=promo, customer=customer, at=AT)
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=promo, customer=customer, at=AT)
    assert error_of(exc) == ("coupon", "already_applied")
    d.coupon_update(coupon=promo, at=AT, active=False)
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=promo, customer=factories.customer(external_id="b"), at=AT)
    assert error_of(exc) == ("coupon", "coupon_inactive")


def test_fixed_coupon_in_another_currency_is_refused(customer, plan):
    euros = coupon("EUR10", kind="fixed", amount_off=D(10), currency="EUR")
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=euros, customer=customer, at=AT)
    assert error_of(exc) == ("coupon", "currency_mismatch")
    sub = factories.subscription(customer=customer, plan=plan, at=AT)
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=euros, customer=customer, subscription=sub, at=AT)
    assert error_of(exc) == ("coupon", "currency_mismatch")
    assert not Discount.objects.exists()


def test_subscription_of_another_customer_or_ended_is_refused(customer, plan):
    other = factories.customer(external_id="other")
    sub = factories.subscription(customer=other, plan=plan, at=AT)
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=coupon(), customer=customer, subscription=sub, at=AT)
    assert error_of(exc) == ("subscription", "invalid")
    subscription_cancel(subscription=sub, at=AT, when="immediately")
    sub.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        d.discount_apply(coupon=coupon("X2"), customer=other, subscription=sub, at=AT)
    assert error_of(exc) == ("subscription", "subscription_ended")


# --- Durations across bill runs ---
@pytest.mark.parametrize(
    ("duration", "periods", "discounted"),
    [("once", None, 1), ("repeating", 3, 3), ("forever", None, 6)],
)
def test_durations_across_bill_runs(customer, plan, duration, periods, discounted):
    promo = coupon(duration=duration, duration_in_periods=periods)
    discount = d.discount_apply(coupon=promo, customer=customer, at=AT)
    factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 10))
    monthly_runs(5)
    assert invoice_nets() == [D("24.00")] * discounted + [D("30.00")] * (6 - discounted)
    assert discount_lines() == [("Coupon SAVE20 (20% off)", D("-6.00"))] * discounted
    discount.refresh_from_db()
    assert discount.periods_applied == discounted
    ended = duration != "forever"
    assert (discount.end_at is not None) is ended
    assert BillingEvent.objects.filter(kind="discount.ended").exists() is ended
    # Totals, amount due and the discount line: the discount is applied before tax.
    first = Invoice.objects.order_by("pk").first()
    assert (first.total, first.amount_due) == (D("24.00"), D("24.00"))
    keys = sorted(
        InvoiceLine.objects.filter(billing_key__startswith="discount:").values_list(
            "billing_key", flat=True
        )
    )
    assert keys == sorted(f"discount:{discount.pk}:{n}" for n in range(1, discounted + 1))


def test_a_discount_starts_with_the_next_invoice(customer, plan):
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 10))
    d.discount_apply(
        coupon=coupon(duration="repeating", duration_in_periods=2),
        customer=customer,
        subscription=sub,
        at=utc(2027, 1, 15),
    )
    monthly_runs(3)
    assert invoice_nets() == [D("30.00"), D("24.00"), D("24.00"), D("30.00")]
    line = InvoiceLine.objects.filter(billing_key__startswith="discount:").order_by("pk").first()
    assert line.subscription == sub
    assert (line.period_start, line.period_end) == (utc(2027, 2, 10), utc(2027, 3, 10))


def test_subscription_discount_applies_to_its_own_lines_only(customer, plan):
    cheap = factories.plan(code="cheap", amount="10.00")
    sub = factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 10))
    factories.subscription(customer=customer, plan=cheap, at=utc(2027, 1, 10))
    d.discount_apply(
        coupon=coupon(percent_off=D(50)), customer=customer, subscription=sub, at=utc(2027, 1, 11)
    )
    run(2027, 2, 10)
    invoice = Invoice.objects.order_by("-pk").first()
    assert invoice.subtotal - invoice.discount == D("25.00")  # 30 − 15 + 10
    assert discount_lines(invoice=invoice) == [("Coupon SAVE20 (50% off)", D("-15.00"))]


def test_fixed_coupon_never_takes_an_invoice_below_zero(customer, plan):
    promo = coupon(
        "TAKE50",
        kind="fixed",
        amount_off=D(50),
        currency="USD",
        duration="repeating",
        duration_in_periods=2,
    )
    d.discount_apply(coupon=promo, customer=customer, at=AT)
    factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 10))
    run(2027, 2, 10)
    assert discount_lines() == [("Coupon TAKE50 (50.00 USD off)", D("-30.00"))] * 2
    invoices = list(Invoice.objects.order_by("pk"))
    assert [(inv.status, inv.total, inv.amount_due) for inv in invoices] == [("paid", 0, 0)] * 2


def test_stacked_coupons_stop_at_zero(customer, plan):
    d.discount_apply(coupon=coupon("HALF", percent_off=D(50)), customer=customer, at=AT)
    d.discount_apply(coupon=coupon("SEVENTY", percent_off=D(70)), customer=customer, at=AT)
    factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 10))
    assert discount_lines() == [
        ("Coupon HALF (50% off)", D("-15.00")),
        ("Coupon SEVENTY (70% off)", D("-15.00")),
    ]
    assert invoice_nets() == [0]


@pytest.mark.parametrize(
    ("currency", "amount", "percent", "off"),
    [
        ("JPY", "999", D(15), D(-150)),  # 149.85 → 150
        ("JPY", "1001", D("12.5"), D(-125)),  # 125.125 → 125
        ("KWD", "9.999", D(33), D("-3.300")),  # 3.29967 → 3.300
        ("KWD", "12.345", D("12.5"), D("-1.543")),  # 1.543125 → 1.543
        ("USD", "10.01", D(15), D("-1.50")),  # 1.5015 → 1.50
    ],
)
def test_percent_coupons_round_in_the_currency_precision(currency, amount, percent, off):
    customer = factories.customer(external_id="c", currency=currency)
    plan = factories.plan(currency=currency, amount=amount)
    d.discount_apply(coupon=coupon(percent_off=percent), customer=customer, at=AT)
    factories.subscription(customer=customer, plan=plan, at=utc(2027, 1, 10))
    ((_, line_amount),) = discount_lines()
    assert line_amount == off
    assert invoice_nets() == [D(amount) + off]


def test_fixed_coupon_of_another_currency_skips_that_invoice(customer):
    promo = coupon("USD5", kind="fixed", amount_off=D(5), currency="USD")
    d.discount_apply(coupon=promo, customer=customer, at=AT)
    euro_plan = factories.plan(code="euro", currency="EUR", amount="20.00")
    factories.subscription(customer=customer, plan=euro_plan, at=utc(2027, 1, 10))
    assert discount_lines() == []
    assert Discount.objects.get().periods_applied == 0


# --- Idempotency per invoice ---
def test_a_discount_applies_once_per_invoice(customer):
    discount = d.discount_apply(coupon=coupon(), customer=customer, at=AT)
    line = InvoiceLine(
        customer=customer,
        currency="USD",
        kind="one_time",
        description="Thing",
        amount=D(100),
        unit_amount=D(100),
    )
    invoice = Invoice(customer=customer, currency="USD")
    with transaction.atomic():
        first = d.invoice_discount(invoice=invoice, lines=[line], at=AT)
        assert [ln.amount for ln in first] == [D(-20)]
        # Asked again with its own discount line among the lines: nothing more.
        assert d.invoice_discount(invoice=invoice, lines=[line, *first], at=AT) == []
    discount.refresh_from_db()
    assert discount.periods_applied == 1
    # A saved invoice holding the line is not discounted again either.
    with transaction.atomic():
        invoice = invoicing.invoice_create(
            customer=customer, currency="USD", lines=[line, *first], at=AT
        )
        assert d.invoice_discount(invoice=invoice, lines=[], at=AT) == []
    discount.refresh_from_db()
    assert discount.periods_applied == 1
    assert discount_lines(invoice=invoice) == [("Coupon SAVE20 (20% off)", D(-20))]


def test_adding_discount_lines_to_a_draft_twice_adds_them_once(customer):
    d.discount_apply(coupon=coupon(), customer=customer, at=AT)
    line = InvoiceLine(
        customer=customer,
        currency="USD",
        kind="one_time",
        description="Thing",
        amount=D(100),
        unit_amount=D(100),
    )
    with transaction.atomic():
        invoice = invoicing.invoice_create(customer=customer, currency="USD", lines=[line], at=AT)
    _add_discount_lines(invoice, AT)
    _add_discount_lines(invoice, AT)
    assert discount_lines(invoice=invoice) == [("Coupon SAVE20 (20% off)", D(-20))]
    invoice.refresh_from_db()
    assert invoice.subtotal - invoice.discount == D(80)


def test_preview_changes_nothing(customer):
    discount = d.discount_apply(coupon=coupon(duration="once"), customer=customer, at=AT)
    line = InvoiceLine(
        customer=customer,
        currency="USD",
        kind="one_time",
        description="Thing",
        amount=D(50),
        unit_amount=D(50),
    )
    lines = d.invoice_discount(
        invoice=Invoice(customer=customer, currency="USD"), lines=[line], at=AT, preview=True
    )
    assert [ln.amount for ln in lines] == [D(-10)]
    discount.refresh_from_db()
    assert (discount.periods_applied, discount.end_at) == (0, None)


def test_batch_of_invoices_advances_each_discount_once_per_invoice(customer):
    other = factories.customer(external_id="other")
    once = d.discount_apply(coupon=coupon("ONCE", duration="once"), customer=customer, at=AT)
    forever = d.discount_apply(coupon=coupon("ALWAYS"), customer=other, at=AT)

    def draft(who, currency, amount):
        line = InvoiceLine(
            customer=who,
            currency=currency,
            kind="one_time",
            description="x",
            amount=D(amount),
            unit_amount=D(amount),
        )
        return Invoice(customer=who, currency=currency), [line]

    drafts = [draft(customer, "EUR", 10), draft(customer, "USD", 10), draft(other, "USD", 40)]
    with transaction.atomic():
        result = d.invoices_discount(drafts=drafts, at=AT)
    assert [[ln.amount for ln in lines] for lines in result] == [[D(-2)], [], [D(-8)]]
    once.refresh_from_db()
    forever.refresh_from_db()
    assert (once.periods_applied, once.end_at) == (1, AT)
    assert (forever.periods_applied, forever.end_at) == (1, None)


# --- API ---
def post(api, url, body):
    return api.post(f"/api/v1/{url}", body, format="json")


@pytest.fixture
def clock():
    with time_machine.travel(AT, tick=False):
        yield


def test_api_coupons_and_discounts(api, customer, plan, clock):
    response = post(
        api,
        "coupons/",
        {
            "code": "WELCOME",
            "name": "Welcome",
            "kind": "percent",
            "percent_off": "25",
            "duration": "repeating",
            "duration_in_periods": 3,
            "max_redemptions": 100,
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {
        k: body[k] for k in ("code", "kind", "percent_off", "amount_off", "times_redeemed")
    } == {
        "code": "WELCOME",
        "kind": "percent",
        "percent_off": "25",
        "amount_off": None,
        "times_redeemed": 0,
    }
    fixed = post(
        api,
        "coupons/",
        {
            "code": "TENOFF",
            "name": "Ten off",
            "kind": "fixed",
            "amount_off": "10",
            "currency": "USD",
            "duration": "once",
        },
    )
    assert fixed.status_code == 201, fixed.json()
    assert fixed.json()["amount_off"] == "10.00"
    assert [c["code"] for c in api.get("/api/v1/coupons/").json()["results"]] == [
        "WELCOME",
        "TENOFF",
    ]
    sub = factories.subscription(customer=customer, plan=plan, at=AT, external_id="sub-1")
    discount = post(
        api, "discounts/", {"coupon": "WELCOME", "customer": "acme", "subscription": "sub-1"}
    )
    assert discount.status_code == 201, discount.json()
    assert {
        k: discount.json()[k]
        for k in ("coupon", "customer", "subscription", "periods_applied", "end_at")
    } == {
        "coupon": "WELCOME",
        "customer": "acme",
        "subscription": sub.pk,
        "periods_applied": 0,
        "end_at": None,
    }
    assert api.get("/api/v1/coupons/WELCOME/").json()["times_redeemed"] == 1
    listed = api.get("/api/v1/discounts/", {"customer": "acme", "active": "true"}).json()
    assert [x["coupon"] for x in listed["results"]] == ["WELCOME"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"percent_off": "150"}, "percent_off", "out_of_range"),
        ({"kind": "half"}, "kind", "invalid_choice"),
        ({"duration": "repeating"}, "duration_in_periods", "required"),
        ({"amount_off": "-1"}, "amount_off", "min_value"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_api_invalid_coupon_is_400(api, db, body, field, code):
    base = {
        "code": "BAD",
        "name": "Bad",
        "kind": "percent",
        "percent_off": "10",
        "duration": "forever",
    }
    response = post(api, "coupons/", {**base, **body})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)
    assert not Coupon.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"coupon": "NOPE"}, "coupon", "does_not_exist"),
        ({"customer": "nobody"}, "customer", "does_not_exist"),
        ({"subscription": "nope"}, "subscription", "does_not_exist"),
        ({"coupon": "EUR10"}, "coupon", "currency_mismatch"),
    ],
)
def test_api_invalid_discount_is_400(api, customer, body, field, code):
    coupon("SAVE20")
    coupon("EUR10", kind="fixed", amount_off=D(10), currency="EUR")
    response = post(api, "discounts/", {"coupon": "SAVE20", "customer": "acme", **body})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert not Discount.objects.exists()


def test_api_unknown_coupon_is_404(api, db):
    response = api.get("/api/v1/coupons/NOPE/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert api.get("/api/v1/discounts/999/").status_code == 404


# --- Admin ---
def test_admin_coupon_add_and_change(admin_client, db):
    add = reverse("admin:billing_coupon_add")
    assert admin_client.get(add).status_code == 200
    refused = admin_client.post(
        add, {"code": "BAD", "name": "Bad", "kind": "percent", "duration": "forever"}
    )
    assert refused.status_code == 200
    assert "percent_off" in refused.context["adminform"].form.errors
    response = admin_client.post(
        add,
        {
            "code": "SPRING",
            "name": "Spring",
            "kind": "percent",
            "percent_off": "15",
            "duration": "repeating",
            "duration_in_periods": "2",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    promo = Coupon.objects.get(code="SPRING")
    assert BillingEvent.objects.filter(kind="coupon.created").exists()
    change = reverse("admin:billing_coupon_change", args=[promo.pk])
    response = admin_client.post(change, {"name": "Spring sale", "max_redemptions": "5"})
    assert response.status_code == 302
    promo.refresh_from_db()
    assert (promo.name, promo.max_redemptions, promo.active, promo.percent_off) == (
        "Spring sale",
        5,
        False,
        D(15),
    )
    assert admin_client.get(reverse("admin:billing_discount_changelist")).status_code == 200
