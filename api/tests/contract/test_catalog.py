"""API.md § Catalog over HTTP: metrics, features, plans with each charge model priced
through usage → invoice, add-ons."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error

TIERS = {
    "graduated": [
        {"up_to": 10, "unit_amount": "1.00", "flat_amount": "0"},
        {"up_to": None, "unit_amount": "0.50", "flat_amount": "5.00"},
    ],
    "volume": [
        {"up_to": 10, "unit_amount": "2.00", "flat_amount": "0"},
        {"up_to": None, "unit_amount": "1.50", "flat_amount": "10.00"},
    ],
}
CHARGES = [
    {"metric": "calls", "model": "standard", "properties": {"unit_amount": "0.10"}},
    {"metric": "gb", "model": "graduated", "properties": {"tiers": TIERS["graduated"]}},
    {"metric": "seats", "model": "volume", "properties": {"tiers": TIERS["volume"]}},
    {
        "metric": "msgs",
        "model": "package",
        "properties": {"package_size": 100, "amount": "5.00", "free_units": 50},
    },
    {
        "metric": "sales",
        "model": "percentage",
        "properties": {
            "rate": "2.5",
            "fixed_amount": "0.30",
            "free_events": 1,
            "per_event_min": "0.50",
            "per_event_max": "5.00",
        },
    },
    {"metric": "users", "model": "standard", "properties": {"unit_amount": "1.00"}},
    {"metric": "storage", "model": "standard", "properties": {"unit_amount": "0.20"}},
]
# metric → (aggregation, field, events' properties, expected value, expected amount)
USAGE = {
    "calls": ("count", None, [{}] * 25, "25", "2.50"),
    # 10 × 1.00 + 5 × 0.50 + the second tier's flat 5.00
    "gb": ("sum", "gb", [{"gb": 8}, {"gb": 7}], "15", "17.50"),
    # the total (max 12) falls in the second tier: 12 × 1.50 + 10.00
    "seats": ("max", "n", [{"n": 4}, {"n": 12}, {"n": 9}], "12", "28.00"),
    # 181 − 50 free = 131 → two started packages of 100
    "msgs": ("sum", "n", [{"n": 120}, {"n": 61}], "181", "10.00"),
    # first event free; 10 → 0.55; 1000 → 25.30 capped at 5.00; 4 → 0.40 raised to 0.50
    "sales": (
        "sum",
        "amount",
        [{"amount": 100}, {"amount": 10}, {"amount": 1000}, {"amount": 4}],
        "1114",
        "6.05",
    ),
    "users": (
        "unique_count",
        "user",
        [{"user": "a"}, {"user": "b"}, {"user": "a"}, {"user": "c"}],
        "3",
        "3.00",
    ),
    "storage": ("latest", "gb", [{"gb": 10}, {"gb": 30}, {"gb": 20}], "20", "4.00"),
}


def test_metrics_of_every_aggregation_addressed_by_code(api):
    """ "`POST /metrics/` `{code, name, aggregation: count|sum|max|unique_count|latest,
    field}`"."""
    for code, (aggregation, field, *_) in USAGE.items():
        made = h.metric(api, code, aggregation, field)
        assert (made["code"], made["aggregation"]) == (code, aggregation)
        assert api.ok("GET", f"metrics/{code}/") == made
        assert api.ok("GET", f"metrics/{made['id']}/") == made


def test_a_metric_that_aggregates_a_property_needs_field(api):
    """ "(`field` names the event property aggregated; not used by `count`)"."""
    body = {"code": "gb", "name": "GB", "aggregation": "sum"}
    assert_error(api.post("metrics/", body), 400, "invalid_request", "field")
    assert h.metric(api, "calls")["aggregation"] == "count"


def test_features_and_a_quota_names_its_metric(api):
    """ "`POST /features/` `{code, name, kind: boolean|quota|seats, metric}` — a quota feature
    names the metric whose usage per period it limits"."""
    h.metric(api, "calls")
    assert h.feature(api, "sso")["kind"] == "boolean"
    assert h.feature(api, "team", "seats")["kind"] == "seats"
    quota = h.feature(api, "calls_quota", "quota", "calls")
    assert (quota["kind"], quota["metric"]) == ("quota", "calls")
    body = {"code": "q", "name": "Q", "kind": "quota"}
    assert_error(api.post("features/", body), 400, "invalid_request", "metric")


def test_a_plan_round_trips_its_charges_and_entitlements(api):
    """ "`POST /plans/` `{code, name, currency, interval, interval_count, amount,
    pay_in_advance, trial_days, charges, entitlements: [{feature, value: true | <int limit> |
    null (unlimited)}]}`"."""
    for code, (aggregation, field, *_) in USAGE.items():
        h.metric(api, code, aggregation, field)
    h.feature(api, "sso")
    h.feature(api, "calls_quota", "quota", "calls")
    h.feature(api, "gb_quota", "quota", "gb")
    entitlements = [
        {"feature": "sso", "value": True},
        {"feature": "calls_quota", "value": 1000},
        {"feature": "gb_quota", "value": None},
    ]
    made = h.plan(
        api,
        "metered",
        amount="49.00",
        trial_days=14,
        interval_count=1,
        charges=CHARGES,
        entitlements=entitlements,
    )
    assert (made["amount"], made["currency"], made["interval"]) == ("49.00", "USD", "month")
    assert (made["pay_in_advance"], made["trial_days"]) == (True, 14)
    # API.md § Tax: "`tax_behavior` … (default `exclusive` …) and `tax_code` … (default `saas`)"
    assert (made["tax_behavior"], made["tax_code"]) == ("exclusive", "saas")
    assert [(c["metric"], c["model"]) for c in made["charges"]] == [
        (c["metric"], c["model"]) for c in CHARGES
    ]
    graduated = made["charges"][1]["properties"]["tiers"]
    assert [t["up_to"] for t in graduated] == [10, None]
    assert {e["feature"]: e["value"] for e in made["entitlements"]} == {
        "sso": True,
        "calls_quota": 1000,
        "gb_quota": None,
    }
    assert api.ok("GET", "plans/metered/") == made


def test_a_base_fee_of_zero_is_allowed(api):
    """ "amount: "49.00", # recurring base fee; "0" allowed"."""
    assert Decimal(h.plan(api, "free", amount="0")["amount"]) == 0


def test_addons(api):
    """ "`POST /addons/` `{code, name, currency, amount, interval: one_time|month|year}`"."""
    for interval in ("one_time", "month", "year"):
        body = {
            "code": f"a-{interval}",
            "name": "Extra",
            "currency": "USD",
            "amount": "5",
            "interval": interval,
        }
        made = api.ok("POST", "addons/", body, 201)
        assert (made["amount"], made["interval"]) == ("5.00", interval)
        assert (made["tax_behavior"], made["tax_code"]) == ("exclusive", "saas")  # § Tax
        assert api.ok("GET", f"addons/a-{interval}/") == made


def test_each_charge_model_prices_usage_on_the_invoice(api, worker):
    """Charge `properties` by model: "`standard`: `{unit_amount}`"; "`graduated`: … each unit
    is priced in the tier it falls in; a tier's flat amount is added once the tier is
    entered"; "`volume`: … all units priced at the tier the total falls in, plus that tier's
    flat amount"; "`package`: … units above `free_units` are billed in whole packages, a
    started package is billed in full"; "`percentage`: … `rate` in percent of each event's
    amount plus `fixed_amount` per event; the first `free_events` events of the period pay
    neither; optional per-event minimum/maximum" — priced through usage → a bill run's
    invoice, for every aggregation."""
    for code, (aggregation, field, *_) in USAGE.items():
        h.metric(api, code, aggregation, field)
    h.plan(api, "metered", amount="0", charges=CHARGES)
    h.customer(api, "acme")
    start = datetime.now(UTC) - timedelta(hours=1)
    sub = h.subscribe(api, "acme", "metered", start_at=h.iso(start))
    items = [
        (code, h.iso(start + timedelta(seconds=n)), props)
        for code, (_, _, events, _, _) in USAGE.items()
        for n, props in enumerate(events)
    ]
    h.batch(api, sub["id"], items)

    usage = api.ok("GET", f"subscriptions/{sub['id']}/usage/")
    priced = {c["metric"]: (c["value"], c["amount"]) for c in usage["charges"]}
    assert priced == {code: (value, amount) for code, (*_, value, amount) in USAGE.items()}

    end = datetime.fromisoformat(sub["current_period_end"])
    run = h.bill_run(api, h.iso(end + timedelta(minutes=1)))
    assert run["status"] == "completed", run
    invoices = h.invoices_of(api, "acme")
    (invoice,) = [i for i in invoices if any(ln["kind"] == "usage" for ln in i["lines"])]
    for code, (*_, amount) in USAGE.items():
        line = h.line_of(invoice, code.title())
        assert (line["kind"], line["amount"]) == ("usage", amount), line
        assert line["period_start"] == sub["current_period_start"]
        assert line["period_end"] == sub["current_period_end"]
    expected = sum(Decimal(amount) for *_, amount in USAGE.values())
    usage_total = sum(Decimal(ln["amount"]) for ln in invoice["lines"] if ln["kind"] == "usage")
    assert usage_total == expected
