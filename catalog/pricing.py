"""Pricing engine: validates a charge's `properties` and prices a period's usage.

Conventions:
- Decimal only, never float. In normalized properties every amount is a canonical decimal
  string: plain notation, no exponent, no trailing zeros, zero is "0" ("12.50" -> "12.5",
  "1E+2" -> "100"); counts (`up_to`, `package_size`, `free_units`, `free_events`) are ints.
- Tiers are half-open: tier i covers (previous up_to, up_to]; the first starts at 0 and the
  last is open (`up_to` None).
- A quantity of 0 costs 0 under every model (an empty tier adds no flat amount).
- Results are exact and unrounded (arithmetic that would round raises decimal.Inexact).
  Rounding is NOT done here: the invoice line rounds once (catalog.money.round_money).
"""

import enum
import re
from collections.abc import Iterable, Mapping
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, localcontext

MAX_DECIMAL_PLACES = 12
MAX_DIGITS = 19

_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INTEGER_RE = re.compile(r"-?[0-9]{1,30}")
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation, DivisionByZero])
_REQUIRED = object()
_TIER_KEYS = ("up_to", "unit_amount", "flat_amount")
# Properties that are money (rounded to the currency); unit amounts and the rate are not.
MONEY_PROPERTIES = ("flat_amount", "amount", "fixed_amount", "per_event_min", "per_event_max")


class ChargeModel(enum.StrEnum):
    STANDARD = "standard"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"
    PERCENTAGE = "percentage"


class ChargePropertiesError(ValueError):
    """Invalid charge properties.

    `field` is a dotted path inside properties ("tiers.1.up_to"), "" for the properties object
    itself, or "model" for an unknown model; `code` is a stable snake_case code.
    """

    def __init__(self, field: str, code: str, message: str):
        super().__init__(f"{field or 'properties'}: {message}")
        self.field = field
        self.code = code
        self.message = message


def normalize_properties(model: str, properties: dict) -> dict:
    """Validates `properties` for `model` (see API.md, Catalog) and returns a normalized copy."""
    model = _charge_model(model)
    if not isinstance(properties, Mapping):
        raise ChargePropertiesError("", "invalid_type", "Properties must be an object.")
    if model in (ChargeModel.GRADUATED, ChargeModel.VOLUME):
        _only(properties, ("tiers",), f"a {model.value} charge")
        return {"tiers": _tiers(properties)}
    if model is ChargeModel.STANDARD:
        _only(properties, ("unit_amount",), "a standard charge")
        return {"unit_amount": _amount(properties, "unit_amount")}
    if model is ChargeModel.PACKAGE:
        _only(properties, ("package_size", "amount", "free_units"), "a package charge")
        return {
            "package_size": _count(properties, "package_size", minimum=1),
            "amount": _amount(properties, "amount"),
            "free_units": _count(properties, "free_units", minimum=0, default=0),
        }
    keys = ("rate", "fixed_amount", "free_events", "per_event_min", "per_event_max")
    _only(properties, keys, "a percentage charge")
    rate = _amount(properties, "rate")
    if Decimal(rate) > 100:
        raise ChargePropertiesError("rate", "out_of_range", "The rate is a percentage: 0 to 100.")
    result = {
        "rate": rate,
        "fixed_amount": _amount(properties, "fixed_amount", default="0"),
        "free_events": _count(properties, "free_events", minimum=0, default=0),
        "per_event_min": _amount(properties, "per_event_min", default=None),
        "per_event_max": _amount(properties, "per_event_max", default=None),
    }
    low, high = result["per_event_min"], result["per_event_max"]
    if low is not None and high is not None and Decimal(low) > Decimal(high):
        raise ChargePropertiesError(
            "per_event_min", "min_greater_than_max", "per_event_min must not exceed per_event_max."
        )
    return result


def charge_amount(model: str, properties: dict, quantity: Decimal) -> Decimal:
    """Exact, unrounded amount for a period's aggregated `quantity` (normalized properties)."""
    model = ChargeModel(model)
    quantity = _decimal(quantity, "quantity")
    with localcontext(_EXACT):
        if model is ChargeModel.STANDARD:
            return quantity * Decimal(properties["unit_amount"])
        if model is ChargeModel.GRADUATED:
            return _graduated(properties["tiers"], quantity)
        if model is ChargeModel.VOLUME:
            return _volume(properties["tiers"], quantity)
        if model is ChargeModel.PACKAGE:
            billable = max(quantity - properties["free_units"], Decimal(0))
            packages, rest = divmod(billable, properties["package_size"])
            if rest:
                packages += 1  # a started package is billed in full
            return packages * Decimal(properties["amount"])
    raise ValueError(
        "A percentage charge is priced per event, not on an aggregated quantity; "
        "use percentage_amount()."
    )


def percentage_amount(
    properties: dict, event_amounts: Iterable[Decimal], events_before: int = 0
) -> Decimal:
    """Sum of per-event fees: amount × rate / 100 + fixed_amount, clamped to the per-event
    min/max. The period's first `free_events` events pay nothing; `events_before` is how many
    of the period's events were counted before these."""
    if isinstance(events_before, bool) or not isinstance(events_before, int) or events_before < 0:
        raise ValueError("events_before must be an int >= 0.")
    rate = Decimal(properties["rate"])
    fixed = Decimal(properties["fixed_amount"])
    low, high = properties.get("per_event_min"), properties.get("per_event_max")
    total = Decimal(0)
    with localcontext(_EXACT):
        for number, amount in enumerate(event_amounts, start=events_before):
            amount = _decimal(amount, "event amount")
            if number < properties["free_events"]:
                continue
            fee = amount * rate / 100 + fixed
            if low is not None:
                fee = max(fee, Decimal(low))
            if high is not None:
                fee = min(fee, Decimal(high))
            total += fee
    return total


def _graduated(tiers: list[dict], quantity: Decimal) -> Decimal:
    total, lower = Decimal(0), 0
    for tier in tiers:
        if quantity <= lower:
            break
        upper = quantity if tier["up_to"] is None else min(quantity, tier["up_to"])
        total += (upper - lower) * Decimal(tier["unit_amount"]) + Decimal(tier["flat_amount"])
        lower = tier["up_to"]
    return total


def _volume(tiers: list[dict], quantity: Decimal) -> Decimal:
    if quantity == 0:
        return Decimal(0)
    tier = next(t for t in tiers if t["up_to"] is None or quantity <= t["up_to"])
    return quantity * Decimal(tier["unit_amount"]) + Decimal(tier["flat_amount"])


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise TypeError(f"The {name} must be a Decimal, not {type(value).__name__}.")
    if not value.is_finite() or value < 0:
        raise ValueError(f"The {name} must be a finite number >= 0, not {value}.")
    return value


def _charge_model(model: object) -> ChargeModel:
    try:
        return ChargeModel(model)
    except ValueError:
        choices = ", ".join(m.value for m in ChargeModel)
        raise ChargePropertiesError(
            "model", "invalid_choice", f"Unknown charge model {model!r}; use one of {choices}."
        ) from None


def _only(properties: Mapping, allowed: tuple[str, ...], what: str, path: str = "") -> None:
    for key in properties:
        if key not in allowed:
            raise ChargePropertiesError(
                f"{path}{key}",
                "unknown_property",
                f"Unknown property {key!r} for {what}; allowed: {', '.join(allowed)}.",
            )


def _tiers(properties: Mapping) -> list[dict]:
    tiers = properties.get("tiers")
    if tiers is None:
        raise ChargePropertiesError("tiers", "required", "This property is required.")
    if not isinstance(tiers, list | tuple):
        raise ChargePropertiesError("tiers", "invalid_type", "Tiers must be a list.")
    if not tiers:
        raise ChargePropertiesError("tiers", "empty", "Give at least one tier.")
    result: list[dict] = []
    for index, tier in enumerate(tiers):
        path = f"tiers.{index}."
        if not isinstance(tier, Mapping):
            raise ChargePropertiesError(
                f"tiers.{index}", "invalid_type", "A tier must be an object."
            )
        _only(tier, _TIER_KEYS, "a tier", path)
        up_to = _count(tier, "up_to", path, minimum=1, default=None)
        last = index == len(tiers) - 1
        if up_to is None and not last:
            raise ChargePropertiesError(
                f"{path}up_to", "open_tier_not_last", "Only the last tier may have up_to null."
            )
        if up_to is not None and last:
            raise ChargePropertiesError(
                f"{path}up_to", "last_tier_not_open", "The last tier must be open: up_to null."
            )
        if up_to is not None and result and up_to <= result[-1]["up_to"]:
            raise ChargePropertiesError(
                f"{path}up_to",
                "tiers_not_ascending",
                f"up_to must be greater than the previous tier's ({result[-1]['up_to']}).",
            )
        result.append(
            {
                "up_to": up_to,
                "unit_amount": _amount(tier, "unit_amount", path, default="0"),
                "flat_amount": _amount(tier, "flat_amount", path, default="0"),
            }
        )
    return result


def _amount(properties: Mapping, key: str, path: str = "", default: object = _REQUIRED):
    """The amount at `key` as a canonical decimal string; `default` when missing or null."""
    field, value = f"{path}{key}", properties.get(key)
    if value is None:
        if default is _REQUIRED:
            raise ChargePropertiesError(field, "required", "This property is required.")
        return default
    valid = isinstance(value, Decimal | int) and not isinstance(value, bool)
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        value, valid = Decimal(value), True
    if not valid or not Decimal(value).is_finite():
        raise ChargePropertiesError(
            field, "invalid_decimal", 'Amounts are decimal strings such as "12.50" (not floats).'
        )
    value = Decimal(value)
    if value < 0:
        raise ChargePropertiesError(field, "negative", "Amounts must not be negative.")
    whole, _, fraction = format(value, "f").lstrip("-").partition(".")
    whole, fraction = whole.lstrip("0"), fraction.rstrip("0")
    if len(fraction) > MAX_DECIMAL_PLACES:
        raise ChargePropertiesError(
            field,
            "too_many_decimal_places",
            f"Amounts have at most {MAX_DECIMAL_PLACES} decimal places.",
        )
    if len(whole) + len(fraction) > MAX_DIGITS:
        raise ChargePropertiesError(
            field, "too_many_digits", f"Amounts have at most {MAX_DIGITS} digits in total."
        )
    return f"{whole or '0'}.{fraction}" if fraction else whole or "0"


def _count(
    properties: Mapping, key: str, path: str = "", *, minimum: int, default: object = _REQUIRED
):
    """The whole number at `key` (an int or a string of digits), at least `minimum`."""
    field, value = f"{path}{key}", properties.get(key)
    if value is None:
        if default is _REQUIRED:
            raise ChargePropertiesError(field, "required", "This property is required.")
        return default
    if isinstance(value, str) and _INTEGER_RE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChargePropertiesError(field, "invalid_integer", "Must be a whole number.")
    if value < minimum:
        if minimum == 0:
            raise ChargePropertiesError(field, "negative", "Must not be negative.")
        raise ChargePropertiesError(field, "not_positive", f"Must be at least {minimum}.")
    return value
