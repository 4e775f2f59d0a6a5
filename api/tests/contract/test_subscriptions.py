"""API.md § Subscriptions over HTTP: creation, periods and billing_day stubs, statuses,
change (+ preview), cancel, pause/resume, upcoming invoice, usage."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error


@pytest.fixture
def acme(api):
    h.plan(api, "pro", amount="30.00")
    return h.customer(api, "acme")


def test_create_answers_the_subscription_with_its_period(api, acme):
    """ "`POST /subscriptions/` `{customer, plan, external_id, quantity: 1, start_at,
    trial_days, billing_day}` … → `{id, status: trialing|active|..., current_period_start,
    current_period_end, ...}`"."""
    sub = h.subscribe(api, "acme", "pro", external_id="acme-sub", quantity=2)
    assert sub["id"]
    assert (sub["status"], sub["quantity"], sub["external_id"]) == ("active", 2, "acme-sub")
    start = datetime.fromisoformat(sub["current_period_start"])
    end = datetime.fromisoformat(sub["current_period_end"])
    assert start <= datetime.now(UTC) < end
    assert 28 <= (end - start).days <= 31
    assert api.ok("GET", "subscriptions/acme-sub/") == api.ok("GET", f"subscriptions/{sub['id']}/")


def test_trial_days_make_it_trialing(api, acme):
    """ "status: trialing|active|…": a subscription with `trial_days` starts trialing."""
    sub = h.subscribe(api, "acme", "pro", trial_days=14)
    assert sub["status"] == "trialing"
    assert h.invoices_of(api, "acme", status="open") == []


def test_a_later_start_is_pending(api, acme):
    """ "Statuses: `pending` (starts later)"."""
    later = datetime.now(UTC) + timedelta(days=10)
    sub = h.subscribe(api, "acme", "pro", start_at=h.iso(later))
    assert sub["status"] == "pending"
    assert h.invoices_of(api, "acme") == []


def test_periods_run_from_the_start_date(api, acme):
    """ "periods run from the start date (anniversary)"."""
    start = datetime(2027, 3, 10, tzinfo=UTC)
    sub = h.subscribe(api, "acme", "pro", start_at=h.iso(start))
    assert sub["current_period_start"].startswith("2027-03-10")
    assert sub["current_period_end"].startswith("2027-04-10")


def test_billing_day_aligns_periods_after_a_prorated_stub(api, acme):
    """ "unless `billing_day` (1–31 …) aligns them; the first period is then a prorated stub"
    and "A stub period is prorated against the full period that ends where the stub ends":
    10 Jan → 1 Feb is 22 of January's 31 days."""
    sub = h.subscribe(api, "acme", "pro", start_at="2026-01-10T00:00:00+00:00", billing_day=1)
    (invoice,) = h.invoices_of(api, "acme")
    (line,) = invoice["lines"]
    assert line["period_start"].startswith("2026-01-10")
    assert line["period_end"].startswith("2026-02-01")
    assert line["amount"] == str((Decimal(30) * 22 / 31).quantize(Decimal("0.01")))
    assert sub["billing_day"] == 1


def test_billing_day_is_clamped_to_the_month_end(api, acme):
    """ "`billing_day` (1–31, clamped to the month's end)": the 31st in February is the
    28th."""
    sub = h.subscribe(api, "acme", "pro", start_at="2027-02-10T00:00:00+00:00", billing_day=31)
    assert sub["current_period_start"].startswith("2027-02-10")
    assert sub["current_period_end"].startswith("2027-02-28")
    assert_error(
        api.post("subscriptions/", {"customer": "acme", "plan": "pro", "billing_day": 32}),
        400,
        "invalid_request",
        "billing_day",
    )


def test_change_preview_saves_nothing_then_the_change_answers_its_proration_lines(api, acme):
    """ "`POST /subscriptions/{id}/change/` `{plan?, quantity?, addons?, when, proration,
    preview: false, at}` → the subscription, plus `proration_lines` (the credit and charge
    lines the change creates); with `preview: true` nothing is saved"."""
    h.plan(api, "max", amount="90.00")
    sub = h.subscribe(api, "acme", "pro")
    url = f"subscriptions/{sub['id']}/change/"
    body = {"plan": "max", "when": "immediately", "proration": "prorate"}
    preview = api.ok("POST", url, {**body, "preview": True})
    assert preview["plan"] == "pro"
    lines = preview["proration_lines"]
    assert [ln["kind"] for ln in lines] == ["proration", "proration"]
    credit, charge = sorted(Decimal(ln["amount"]) for ln in lines)
    assert credit < 0 < charge
    assert abs(charge + 3 * credit) <= Decimal("0.02")  # 90 vs 30 for the same days
    assert api.ok("GET", f"subscriptions/{sub['id']}/")["plan"] == "pro"
    upcoming = api.ok("GET", f"subscriptions/{sub['id']}/upcoming-invoice/")
    assert "proration" not in [ln["kind"] for ln in upcoming["lines"]]

    real = api.ok("POST", url, body)
    assert real["plan"] == "max"
    assert [ln["amount"] for ln in real["proration_lines"]] == [ln["amount"] for ln in lines]
    assert api.ok("GET", f"subscriptions/{sub['id']}/")["plan"] == "max"


def test_a_change_without_proration_creates_no_lines(api, acme):
    """ "`proration: prorate|none`": `none` changes the plan and bills no difference."""
    h.plan(api, "max", amount="90.00")
    sub = h.subscribe(api, "acme", "pro")
    url = f"subscriptions/{sub['id']}/change/"
    changed = api.ok("POST", url, {"plan": "max", "proration": "none"})
    assert (changed["plan"], changed["proration_lines"]) == ("max", [])


def test_a_change_adds_an_add_on(api, acme):
    """ "`POST /subscriptions/{id}/change/` `{…, addons?, …}`": an add-on joins the
    subscription, prorated for the rest of the period."""
    addon = {
        "code": "extra",
        "name": "Extra",
        "currency": "USD",
        "amount": "10",
        "interval": "month",
    }
    api.ok("POST", "addons/", addon, 201)
    sub = h.subscribe(api, "acme", "pro")
    url = f"subscriptions/{sub['id']}/change/"
    changed = api.ok("POST", url, {"addons": [{"addon": "extra", "quantity": 2}]})
    assert [(a["addon"], a["quantity"]) for a in changed["addons"]] == [("extra", 2)]
    charged = sum(Decimal(ln["amount"]) for ln in changed["proration_lines"])
    assert Decimal(0) < charged <= Decimal("20.00")


def test_a_quantity_change_at_period_end(api, acme):
    """ "`when: immediately|period_end`": a change at the period end is scheduled."""
    sub = h.subscribe(api, "acme", "pro")
    url = f"subscriptions/{sub['id']}/change/"
    changed = api.ok("POST", url, {"quantity": 3, "when": "period_end"})
    assert changed["quantity"] == 1
    assert changed["proration_lines"] == []


def test_cancel_immediately_or_at_the_period_end(api, acme):
    """ "`POST /subscriptions/{id}/cancel/` `{when: immediately|period_end, reason, at}`"."""
    first = h.subscribe(api, "acme", "pro")
    later = api.ok("POST", f"subscriptions/{first['id']}/cancel/", {"when": "period_end"})
    assert (later["status"], later["cancel_at_period_end"]) == ("active", True)
    h.customer(api, "beta")
    second = h.subscribe(api, "beta", "pro")
    now = api.ok(
        "POST",
        f"subscriptions/{second['id']}/cancel/",
        {"when": "immediately", "reason": "too_expensive"},
    )
    assert now["status"] == "canceled"
    assert now["cancel_reason"] == "too_expensive"


def test_cancel_at_a_moment(api, acme):
    """ "`at` on change and cancel (default: now) is the moment the change takes effect"."""
    sub = h.subscribe(api, "acme", "pro")
    moment = datetime.now(UTC) + timedelta(minutes=5)
    done = api.ok(
        "POST", f"subscriptions/{sub['id']}/cancel/", {"when": "immediately", "at": h.iso(moment)}
    )
    assert datetime.fromisoformat(done["ended_at"]) == moment


def test_pause_and_resume(api, acme):
    """ "`POST /subscriptions/{id}/pause/`, `/resume/`" and the `paused` status."""
    sub = h.subscribe(api, "acme", "pro")
    url = f"subscriptions/{sub['id']}/"
    assert api.ok("POST", f"{url}pause/")["status"] == "paused"
    assert_error(api.post(f"{url}pause/", {}), 422, "state")
    assert api.ok("POST", f"{url}resume/")["status"] == "active"


USAGE_PLAN = [
    {
        "metric": "gb",
        "model": "graduated",
        "properties": {
            "tiers": [
                {"up_to": 10, "unit_amount": "1.00", "flat_amount": "0"},
                {"up_to": None, "unit_amount": "0.50", "flat_amount": "5.00"},
            ]
        },
    },
    {
        "metric": "seats",
        "model": "volume",
        "properties": {
            "tiers": [
                {"up_to": 10, "unit_amount": "2.00", "flat_amount": "0"},
                {"up_to": None, "unit_amount": "1.50", "flat_amount": "10.00"},
            ]
        },
    },
    {
        "metric": "msgs",
        "model": "package",
        "properties": {"package_size": 100, "amount": "5.00", "free_units": 50},
    },
]


@pytest.fixture
def metered(api, acme):
    h.metric(api, "gb", "sum", "gb")
    h.metric(api, "seats", "max", "n")
    h.metric(api, "msgs", "sum", "n")
    h.plan(api, "metered", amount="20.00", charges=USAGE_PLAN)
    start = datetime.now(UTC) - timedelta(hours=1)
    sub = h.subscribe(api, "acme", "metered", external_id="m-1", start_at=h.iso(start))
    at = h.iso(start + timedelta(minutes=1))
    h.batch(
        api, "m-1", [("gb", at, {"gb": 15}), ("seats", at, {"n": 12}), ("msgs", at, {"n": 181})]
    )
    return sub


def test_usage_is_the_current_period_so_far(api, metered):
    """ "`GET /subscriptions/{id}/usage/` → the current period so far: `{period_start,
    period_end, currency, charges: [{metric, model, value, amount}], total}`"."""
    usage = api.ok("GET", "subscriptions/m-1/usage/")
    assert (usage["period_start"], usage["period_end"]) == (
        metered["current_period_start"],
        metered["current_period_end"],
    )
    assert usage["currency"] == "USD"
    charges = {c["metric"]: (c["model"], c["value"], c["amount"]) for c in usage["charges"]}
    assert charges == {
        "gb": ("graduated", "15", "17.50"),
        "seats": ("volume", "12", "28.00"),
        "msgs": ("package", "181", "10.00"),
    }
    assert usage["total"] == "55.50"


def test_upcoming_invoice_is_what_the_next_bill_run_makes(api, metered):
    """ "`GET /subscriptions/{id}/upcoming-invoice/` → the invoice the next bill run would
    make" — with usage on graduated, volume and package charges (issue 13 §1: it was a
    500)."""
    upcoming = api.ok("GET", f"subscriptions/{metered['id']}/upcoming-invoice/")
    kinds = sorted(ln["kind"] for ln in upcoming["lines"])
    assert kinds == ["subscription", "usage", "usage", "usage"]
    usage = sum(Decimal(ln["amount"]) for ln in upcoming["lines"] if ln["kind"] == "usage")
    assert usage == Decimal("55.50")
    base = [ln for ln in upcoming["lines"] if ln["kind"] == "subscription"][0]
    assert base["period_start"] == metered["current_period_end"]
    assert upcoming["total"] == "75.50"
    assert upcoming["currency"] == "USD"
