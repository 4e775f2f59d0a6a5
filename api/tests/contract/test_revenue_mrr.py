"""API.md § Revenue and ledger over HTTP: `GET /revenue/mrr/` and `GET /revenue/mrr/movements/`.

The MRR history is kept by the reports' consumer of the billing event log, which runs in the
worker (`reports.tasks.reports_events_consume_task` in BILLING_EVENT_CONSUMERS): the tests
that read figures start the real worker and wait for them to appear. Every answer is checked
against the schema the server serves."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error, declared

MRR = "revenue/mrr/"
MOVEMENTS = "revenue/mrr/movements/"
MONTH_KEYS = {
    "month",
    "start",
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "end",
    "voluntary_churn",
    "involuntary_churn",
}
RATE_KEYS = {"customer_churn", "gross_mrr_churn", "net_mrr_churn", "nrr", "grr"}


def mrr(api: h.Api, **params) -> dict:
    body = api.ok("GET", MRR, **params)
    declared(api, "GET", MRR, 200, body)
    return body


def movements(api: h.Api, **params) -> dict:
    body = api.ok("GET", MOVEMENTS, **params)
    declared(api, "GET", MOVEMENTS, 200, body)
    assert set(body) == {"currency", "months", "rates"}
    assert all(set(month) == MONTH_KEYS for month in body["months"])
    assert set(body["rates"]) == RATE_KEYS
    return body


def mrr_becomes(api: h.Api, expected: str, **params) -> dict:
    """Wait until the worker's consumer has brought the MRR to `expected`."""
    return h.wait_for(
        lambda: (body := mrr(api, **params))["mrr"] == expected and body,
        60,
        f"MRR {expected} ({params})",
    )


def test_mrr_normalises_yearly_and_quarterly_plans_after_discounts(api, worker):
    """ "recurring base fees … normalised to a month (yearly ÷ 12, every 3 months ÷ 3, …),
    after recurring discounts …; `arr` = 12 × `mrr`"."""
    h.plan(api, "yearly", interval="year", amount="1200.00")
    h.plan(api, "quarterly", interval_count=3, amount="300.00")
    h.customer(api, "acme")
    h.subscribe(api, "acme", "yearly")
    h.subscribe(api, "acme", "quarterly")
    body = mrr_becomes(api, "200.00", customer="acme")
    assert body == {
        "at": body["at"],
        "currency": "USD",
        "mrr": "200.00",
        "arr": "2400.00",
        "subscriptions": 2,
    }
    coupon = {"code": "quarter-off", "name": "25%", "kind": "percent", "percent_off": "25"}
    api.ok("POST", "coupons/", {**coupon, "duration": "forever"}, 201)
    api.ok("POST", "discounts/", {"coupon": "quarter-off", "customer": "acme"}, 201)
    discounted = mrr_becomes(api, "150.00", customer="acme")
    assert discounted["arr"] == "1800.00"
    assert mrr(api)["mrr"] == "150.00"  # everyone, in the default currency


def test_a_trial_and_a_weekly_plan(api, worker):
    """ "… without … trials"; "weekly × 52 ÷ 12"."""
    h.plan(api, "trial", amount="99.00", trial_days=14)
    h.plan(api, "weekly", interval="week", amount="10.00")
    h.customer(api, "acme")
    trialing = h.subscribe(api, "acme", "trial")
    assert trialing["status"] == "trialing"
    h.subscribe(api, "acme", "weekly")  # read after the trial by the consumer
    body = mrr_becomes(api, "43.33", customer="acme")
    assert (body["arr"], body["subscriptions"]) == ("520.00", 1)


def test_movements_of_new_customers_a_cancellation_at_the_period_end_and_an_upgrade(api, worker):
    """ "`GET /revenue/mrr/movements/?from=YYYY-MM&to=YYYY-MM&currency=&customer=` →
    `{months: [{month, start, new, expansion, contraction, churn, reactivation, end}],
    rates: {…}}`": churn at the end of the paid period; `end = start + new + expansion +
    reactivation − contraction − churn`."""
    h.plan(api, "basic", amount="30.00")
    h.plan(api, "pro", amount="50.00")
    h.customer(api, "leaves")
    h.customer(api, "grows")
    leaving = h.subscribe(api, "leaves", "basic", start_at="2026-01-01T00:00:00Z")
    growing = h.subscribe(api, "grows", "basic", start_at="2026-01-01T00:00:00Z")
    api.ok("POST", f"subscriptions/{leaving['id']}/cancel/", {"when": "period_end"})
    h.bill_run(api, "2026-02-01T00:00:00Z")  # ends it at its period end, 1 February
    api.ok(
        "POST",
        f"subscriptions/{growing['id']}/change/",
        {"plan": "pro", "at": "2026-02-10T00:00:00Z", "proration": "none"},
    )
    mrr_becomes(api, "0.00", customer="leaves", at="2026-02-01T00:00:00Z")
    mrr_becomes(api, "50.00", customer="grows", at="2026-02-10T00:00:00Z")
    assert mrr(api, customer="leaves", at="2026-01-31T23:59:59Z")["mrr"] == "30.00"

    body = movements(api, **{"from": "2026-01", "to": "2026-02", "currency": "USD"})
    january, february = body["months"]
    assert (january["month"], january["start"], january["new"], january["end"]) == (
        "2026-01",
        "0.00",
        "60.00",
        "60.00",
    )
    assert february == {
        "month": "2026-02",
        "start": "60.00",
        "new": "0.00",
        "expansion": "20.00",
        "contraction": "0.00",
        "churn": "30.00",
        "reactivation": "0.00",
        "end": "50.00",
        "voluntary_churn": "30.00",
        "involuntary_churn": "0.00",
    }
    for month in body["months"]:
        value = {key: Decimal(month[key]) for key in MONTH_KEYS - {"month"}}
        assert value["end"] == (
            value["start"]
            + value["new"]
            + value["expansion"]
            + value["reactivation"]
            - value["contraction"]
            - value["churn"]
        )
    # Over both months: no MRR at the start of January, so no rates.
    assert body["rates"] == dict.fromkeys(RATE_KEYS)
    february_only = movements(api, **{"from": "2026-02", "to": "2026-02"})
    assert february_only["rates"] == {
        "customer_churn": "0.5000",
        "gross_mrr_churn": "0.5000",  # 30 / 60
        "net_mrr_churn": "0.1667",  # (30 - 20) / 60
        "nrr": "0.8333",  # (60 - 30 + 20) / 60
        "grr": "0.5000",
    }
    one = movements(api, **{"from": "2026-02", "to": "2026-02", "customer": "grows"})
    assert (one["months"][0]["expansion"], one["months"][0]["churn"]) == ("20.00", "0.00")


def test_a_read_key_is_enough_and_a_key_is_needed(reader, anonymous):
    """ "Authenticate with `Authorization: Bearer <secret key>`": read scope for reads."""
    body = mrr(reader, at="2026-01-01T00:00:00Z", currency="EUR")
    assert body == {
        "at": "2026-01-01T00:00:00Z",
        "currency": "EUR",
        "mrr": "0.00",
        "arr": "0.00",
        "subscriptions": 0,
    }
    now = datetime.now(UTC)
    months = movements(reader)["months"]  # the last twelve months by default
    assert len(months) == 12
    assert months[-1]["month"] == f"{now.year:04d}-{now.month:02d}"
    for path in (MRR, MOVEMENTS):
        assert_error(anonymous.get(path), 401, "authentication")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (MRR, {"at": "soon"}, "at"),
        (MRR, {"currency": "ABC"}, "currency"),
        (MRR, {"customer": "nobody"}, "customer"),
        (MOVEMENTS, {"from": "2026-1"}, "from"),
        (MOVEMENTS, {"from": "2026-05", "to": "2026-04"}, "to"),
        (MOVEMENTS, {"currency": "dollars"}, "currency"),
        (MOVEMENTS, {"customer": "nobody"}, "customer"),
    ],
)
def test_a_wrong_parameter_is_named(api, path, params, field):
    """400 `invalid_request` naming the parameter."""
    response = api.get(path, **params)
    assert_error(response, 400, "invalid_request", field)
    declared(api, "GET", path, 400, response.json())
