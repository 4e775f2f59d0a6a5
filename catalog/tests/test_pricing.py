"""Pricing engine; plain functions, no database."""

import math
from bisect import bisect_left
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from catalog.pricing import (
    ChargeModel,
    ChargePropertiesError,
    charge_amount,
    normalize_properties,
    percentage_amount,
)

D = Decimal
FAST = settings(max_examples=200, deadline=None, database=None)

TIERS = {
    "tiers": [
        {"up_to": 10, "unit_amount": "1.00", "flat_amount": "5"},
        {"up_to": 20, "unit_amount": "0.50", "flat_amount": "2"},
        {"up_to": None, "unit_amount": "0.25"},
    ]
}
PERCENTAGE = {
    "rate": "2.9",
    "fixed_amount": "0.30",
    "free_events": 2,
    "per_event_min": "0.50",
    "per_event_max": "10",
}


def price(model, properties, quantity):
    result = charge_amount(model, normalize_properties(model, properties), D(quantity))
    assert isinstance(result, Decimal)
    return result


# Hand-checked examples ---------------------------------------------------------------------


def test_standard_tiny_unit_price():
    # 0.0000125 × 1,000,000 = 12.5
    assert price("standard", {"unit_amount": "0.0000125"}, 1_000_000) == D("12.5")


def test_standard_fractional_quantity():
    # 2.5 GB × 0.10 = 0.25
    assert price("standard", {"unit_amount": "0.10"}, "2.5") == D("0.25")
    assert price("standard", {"unit_amount": "0.10"}, 0) == 0


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0"),  # nothing entered, no flat
        ("5", "10"),  # 5×1 + 5
        ("10", "15"),  # 10×1 + 5
        ("10.5", "17.25"),  # 15 + 0.5×0.5 + 2
        ("15", "19.5"),  # 15 + 5×0.5 + 2
        ("20", "22"),  # 15 + 10×0.5 + 2
        ("25", "23.25"),  # 22 + 5×0.25
    ],
)
def test_graduated(quantity, expected):
    assert price("graduated", TIERS, quantity) == D(expected)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0"),
        ("5", "10"),  # 5×1 + 5
        ("10", "15"),  # 10×1 + 5 (10 is in the first tier)
        ("10.5", "7.25"),  # 10.5×0.5 + 2
        ("15", "9.5"),  # 15×0.5 + 2
        ("20", "12"),  # 20×0.5 + 2
        ("25", "6.25"),  # 25×0.25 + 0
    ],
)
def test_volume(quantity, expected):
    assert price("volume", TIERS, quantity) == D(expected)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0"),
        ("50", "0"),  # all free
        ("51", "5"),  # 1 billable → 1 package × 5
        ("150", "5"),  # 100 billable → 1 package
        ("150.5", "10"),  # 100.5 billable → 2 packages
        ("151", "10"),  # 101 billable → 2 packages
        ("350", "15"),  # 300 billable → 3 packages
    ],
)
def test_package(quantity, expected):
    properties = {"package_size": 100, "amount": "5.00", "free_units": 50}
    assert price("package", properties, quantity) == D(expected)


def test_percentage():
    properties = normalize_properties("percentage", PERCENTAGE)
    amounts = [D(100), D(100), D(100), D(10), D(1000), D(1)]
    # two free; 100×2.9% + 0.30 = 3.20; 10×2.9% + 0.30 = 0.59;
    # 1000×2.9% + 0.30 = 29.30 → max 10; 1×2.9% + 0.30 = 0.329 → min 0.50
    assert percentage_amount(properties, amounts) == D("14.29")
    # one event already counted: only one free left → + 3.20
    assert percentage_amount(properties, amounts, events_before=1) == D("17.49")
    # free events used up before: 17.49 + 3.20
    assert percentage_amount(properties, amounts, events_before=100) == D("20.69")
    assert percentage_amount(properties, []) == 0


def test_percentage_defaults():
    properties = normalize_properties("percentage", {"rate": "1.5"})
    # 200 × 1.5% = 3; nothing free, no fixed fee, no clamps
    assert percentage_amount(properties, [D(200), D(0)]) == D(3)


def test_percentage_has_no_aggregated_amount():
    properties = normalize_properties("percentage", PERCENTAGE)
    with pytest.raises(ValueError, match="percentage_amount"):
        charge_amount("percentage", properties, D(10))


def test_quantity_must_be_decimal_and_not_negative():
    properties = normalize_properties("standard", {"unit_amount": "1"})
    assert charge_amount("standard", properties, 3) == D(3)
    with pytest.raises(TypeError):
        charge_amount("standard", properties, 1.5)
    with pytest.raises(ValueError, match=">= 0"):
        charge_amount("standard", properties, D(-1))
    with pytest.raises(TypeError):
        percentage_amount(normalize_properties("percentage", PERCENTAGE), [1.5])
    with pytest.raises(ValueError, match="events_before"):
        percentage_amount(normalize_properties("percentage", PERCENTAGE), [], events_before=-1)


# Normalization --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_amount", "canonical"),
    [
        ("12.50", "12.5"),
        ("0.0000125", "0.0000125"),
        ("100", "100"),
        ("007.10", "7.1"),
        ("0.000", "0"),
        ("-0", "0"),
        (5, "5"),
        (D("1E+2"), "100"),
        ("0.000000000001", "0.000000000001"),
        ("1234567.000000000001", "1234567.000000000001"),
    ],
)
def test_amounts_are_canonical_strings(given_amount, canonical):
    normalized = normalize_properties("standard", {"unit_amount": given_amount})
    assert normalized == {"unit_amount": canonical}


def test_defaults_and_integers():
    assert normalize_properties("package", {"package_size": "100", "amount": "5.00"}) == {
        "package_size": 100,
        "amount": "5",
        "free_units": 0,
    }
    assert normalize_properties("percentage", {"rate": "2.90"}) == {
        "rate": "2.9",
        "fixed_amount": "0",
        "free_events": 0,
        "per_event_min": None,
        "per_event_max": None,
    }
    assert normalize_properties(ChargeModel.VOLUME, {"tiers": [{"up_to": None}]}) == {
        "tiers": [{"up_to": None, "unit_amount": "0", "flat_amount": "0"}]
    }


def test_normalize_returns_a_copy_and_is_idempotent():
    original = {"tiers": [dict(t) for t in TIERS["tiers"]]}
    normalized = normalize_properties("graduated", original)
    assert original == TIERS
    assert normalized["tiers"][0] == {"up_to": 10, "unit_amount": "1", "flat_amount": "5"}
    assert normalized["tiers"][2] == {"up_to": None, "unit_amount": "0.25", "flat_amount": "0"}
    assert normalize_properties("graduated", normalized) == normalized


def tiers(*tiers):
    return {"tiers": list(tiers)}


OPEN = {"up_to": None, "unit_amount": "1"}


@pytest.mark.parametrize(
    ("model", "properties", "field", "code"),
    [
        ("bogus", {}, "model", "invalid_choice"),
        (None, {}, "model", "invalid_choice"),
        ("standard", ["unit_amount"], "", "invalid_type"),
        ("standard", {}, "unit_amount", "required"),
        ("standard", {"unit_amount": None}, "unit_amount", "required"),
        ("standard", {"unit_amount": 1.5}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": True}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": "abc"}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": "1e3"}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": "NaN"}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": D("Infinity")}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": " 1"}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": "1_000"}, "unit_amount", "invalid_decimal"),
        ("standard", {"unit_amount": "-1"}, "unit_amount", "negative"),
        ("standard", {"unit_amount": -1}, "unit_amount", "negative"),
        ("standard", {"unit_amount": "0.0000000000001"}, "unit_amount", "too_many_decimal_places"),
        ("standard", {"unit_amount": "12345678.000000000001"}, "unit_amount", "too_many_digits"),
        ("standard", {"unit_amount": 10**19}, "unit_amount", "too_many_digits"),
        ("standard", {"unit_amount": "1", "foo": 1}, "foo", "unknown_property"),
        ("graduated", {}, "tiers", "required"),
        ("graduated", {"tiers": {}}, "tiers", "invalid_type"),
        ("graduated", {"tiers": []}, "tiers", "empty"),
        ("graduated", tiers("x"), "tiers.0", "invalid_type"),
        (
            "graduated",
            tiers({"up_to": 10}, {"up_to": 10}, OPEN),
            "tiers.1.up_to",
            "tiers_not_ascending",
        ),
        (
            "graduated",
            tiers({"up_to": 10}, {"up_to": 5}, OPEN),
            "tiers.1.up_to",
            "tiers_not_ascending",
        ),
        ("graduated", tiers({"up_to": 10}, {"up_to": 20}), "tiers.1.up_to", "last_tier_not_open"),
        ("graduated", tiers(OPEN, OPEN), "tiers.0.up_to", "open_tier_not_last"),
        ("graduated", tiers({"unit_amount": "1"}, OPEN), "tiers.0.up_to", "open_tier_not_last"),
        ("graduated", tiers({"up_to": 0}, OPEN), "tiers.0.up_to", "not_positive"),
        ("graduated", tiers({"up_to": "x"}, OPEN), "tiers.0.up_to", "invalid_integer"),
        ("graduated", tiers({"up_to": True}, OPEN), "tiers.0.up_to", "invalid_integer"),
        ("graduated", tiers({"up_to": 1.0}, OPEN), "tiers.0.up_to", "invalid_integer"),
        ("graduated", tiers({**OPEN, "extra": 1}), "tiers.0.extra", "unknown_property"),
        (
            "graduated",
            tiers({"up_to": 5, "flat_amount": "-1"}, OPEN),
            "tiers.0.flat_amount",
            "negative",
        ),
        (
            "graduated",
            tiers({"up_to": 5, "unit_amount": 0.5}, OPEN),
            "tiers.0.unit_amount",
            "invalid_decimal",
        ),
        ("graduated", {**TIERS, "unit_amount": "1"}, "unit_amount", "unknown_property"),
        (
            "volume",
            tiers({"up_to": 10}, {"up_to": 5}, OPEN),
            "tiers.1.up_to",
            "tiers_not_ascending",
        ),
        ("volume", tiers({"up_to": 10, "unit_amount": "1"}), "tiers.0.up_to", "last_tier_not_open"),
        ("package", {"amount": "1"}, "package_size", "required"),
        ("package", {"package_size": 0, "amount": "1"}, "package_size", "not_positive"),
        ("package", {"package_size": "1.5", "amount": "1"}, "package_size", "invalid_integer"),
        ("package", {"package_size": 10}, "amount", "required"),
        (
            "package",
            {"package_size": 10, "amount": "1", "free_units": -1},
            "free_units",
            "negative",
        ),
        (
            "package",
            {"package_size": 10, "amount": "1", "free_units": "-1"},
            "free_units",
            "negative",
        ),
        (
            "package",
            {"package_size": 10, "amount": "1", "unit_amount": "1"},
            "unit_amount",
            "unknown_property",
        ),
        ("percentage", {}, "rate", "required"),
        ("percentage", {"rate": "100.01"}, "rate", "out_of_range"),
        ("percentage", {"rate": "-1"}, "rate", "negative"),
        ("percentage", {"rate": "1", "fixed_amount": 0.3}, "fixed_amount", "invalid_decimal"),
        ("percentage", {"rate": "1", "free_events": -1}, "free_events", "negative"),
        ("percentage", {"rate": "1", "free_events": False}, "free_events", "invalid_integer"),
        (
            "percentage",
            {"rate": "1", "per_event_min": "2", "per_event_max": "1"},
            "per_event_min",
            "min_greater_than_max",
        ),
        ("percentage", {"rate": "1", "per_event_max": "-1"}, "per_event_max", "negative"),
    ],
)
def test_validation_errors(model, properties, field, code):
    with pytest.raises(ChargePropertiesError) as info:
        normalize_properties(model, properties)
    assert (info.value.field, info.value.code) == (field, code)
    assert isinstance(info.value, ValueError)
    assert info.value.message.endswith(".")


def test_valid_edge_cases():
    assert (
        normalize_properties(
            "percentage", {"rate": "100", "per_event_min": "1", "per_event_max": "1"}
        )["rate"]
        == "100"
    )
    assert normalize_properties("percentage", {"rate": 0, "per_event_max": None})["rate"] == "0"
    single = normalize_properties("graduated", tiers({"up_to": None, "unit_amount": "2"}))
    assert charge_amount("graduated", single, D(3)) == D(6)


# Properties -------------------------------------------------------------------------------

AMOUNTS = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)
QUANTITIES = st.decimals(
    min_value=0, max_value=2000, places=3, allow_nan=False, allow_infinity=False
)


@st.composite
def tiered(draw):
    bounds = sorted(draw(st.lists(st.integers(1, 1000), max_size=4, unique=True)))
    rows = [
        {"up_to": up_to, "unit_amount": draw(AMOUNTS), "flat_amount": draw(AMOUNTS)}
        for up_to in [*bounds, None]
    ]
    return normalize_properties("graduated", {"tiers": rows})


def tier_index(properties, quantity):
    """The tier `quantity` (> 0) falls in, counting tiers as (previous up_to, up_to]."""
    return bisect_left([t["up_to"] for t in properties["tiers"][:-1]], quantity)


def lower_bound(properties, index):
    return 0 if index == 0 else properties["tiers"][index - 1]["up_to"]


@FAST
@given(properties=tiered(), quantity=st.integers(0, 1500))
def test_graduated_is_sum_of_unit_prices_and_flats(properties, quantity):
    tiers_ = properties["tiers"]
    units = sum(
        (D(tiers_[tier_index(properties, k)]["unit_amount"]) for k in range(1, quantity + 1)), D(0)
    )
    entered = {tier_index(properties, k) for k in range(1, quantity + 1)}
    flats = sum((D(tiers_[i]["flat_amount"]) for i in entered), D(0))
    result = charge_amount("graduated", properties, D(quantity))
    assert isinstance(result, Decimal)
    assert result == units + flats


@FAST
@given(properties=tiered(), a=QUANTITIES, b=QUANTITIES)
def test_graduated_is_non_decreasing(properties, a, b):
    low, high = sorted([a, b])
    assert charge_amount("graduated", properties, low) <= charge_amount(
        "graduated", properties, high
    )


@FAST
@given(properties=tiered(), quantity=QUANTITIES, step=QUANTITIES)
def test_graduated_is_continuous_inside_a_tier(properties, quantity, step):
    assume(quantity > 0)
    index = tier_index(properties, quantity)
    tier = properties["tiers"][index]
    if tier["up_to"] is not None:
        step = min(step, tier["up_to"] - quantity)  # stay inside the tier
    before = charge_amount("graduated", properties, quantity)
    after = charge_amount("graduated", properties, quantity + step)
    assert after - before == step * D(tier["unit_amount"])


@FAST
@given(properties=tiered(), quantity=QUANTITIES)
def test_volume_prices_all_units_at_one_tier(properties, quantity):
    result = charge_amount("volume", properties, quantity)
    assert isinstance(result, Decimal)
    if quantity == 0:
        assert result == 0
        return
    tier = properties["tiers"][tier_index(properties, quantity)]
    assert result == quantity * D(tier["unit_amount"]) + D(tier["flat_amount"])
    assert tier["up_to"] is None or quantity <= tier["up_to"]
    assert quantity > lower_bound(properties, tier_index(properties, quantity))


@FAST
@given(
    size=st.integers(1, 500),
    free=st.integers(0, 500),
    amount=AMOUNTS,
    quantity=QUANTITIES,
)
def test_package_is_a_step_function(size, free, amount, quantity):
    properties = normalize_properties(
        "package", {"package_size": size, "amount": str(amount), "free_units": free}
    )
    result = charge_amount("package", properties, quantity)
    assert isinstance(result, Decimal)
    packages = math.ceil(max(quantity - free, 0) / size) if quantity > free else 0
    assert result == packages * D(properties["amount"])
    if packages:
        # constant up to the end of the started package, lower below its start
        end_of_package = D(free + packages * size)
        start_of_package = D(free + (packages - 1) * size)
        assert charge_amount("package", properties, end_of_package) == result
        assert charge_amount("package", properties, start_of_package) == result - D(
            properties["amount"]
        )


@st.composite
def percentages(draw):
    low = draw(st.none() | AMOUNTS)
    high = draw(st.none() | AMOUNTS)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return normalize_properties(
        "percentage",
        {
            "rate": draw(st.decimals(0, 100, places=3, allow_nan=False, allow_infinity=False)),
            "fixed_amount": draw(AMOUNTS),
            "free_events": draw(st.integers(0, 5)),
            "per_event_min": low,
            "per_event_max": high,
        },
    )


@FAST
@given(
    properties=percentages(),
    amounts=st.lists(AMOUNTS, max_size=12),
    before=st.integers(0, 8),
    split=st.integers(0, 12),
)
def test_percentage_free_events_and_clamps(properties, amounts, before, split):
    total = percentage_amount(properties, amounts, events_before=before)
    assert isinstance(total, Decimal)
    fees = [
        percentage_amount(properties, [a], events_before=before + i) for i, a in enumerate(amounts)
    ]
    assert sum(fees, D(0)) == total
    for number, fee in enumerate(fees, start=before):
        assert isinstance(fee, Decimal)
        if number < properties["free_events"]:
            assert fee == 0
            continue
        if properties["per_event_min"] is not None:
            assert fee >= D(properties["per_event_min"])
        if properties["per_event_max"] is not None:
            assert fee <= D(properties["per_event_max"])
    # counting in two batches never grants the free events twice
    head, tail = amounts[:split], amounts[split:]
    assert (
        percentage_amount(properties, head, before)
        + percentage_amount(properties, tail, before + len(head))
        == total
    )
