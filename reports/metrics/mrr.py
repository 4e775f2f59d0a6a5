"""Monthly recurring revenue (MRR) of subscriptions at an instant, from plain terms.

What counts: the recurring base fee and recurring add-ons of `active` and `past_due`
subscriptions, after recurring discounts. Trials (`trialing`, by status or flag), every other
status (paused, canceled, incomplete, ...), tax, usage and one-time fees count 0.

Normalising to a month (amount per `interval_count` intervals):
  year  × 1 ÷ 12          (1,200 a year      → 100.00)
  month × 1               (300 every 3 months → 100.00)
  week  × 52 ÷ 12         (10 a week          → 43.33)
  day   × 365 ÷ 12        (a 365-day year, also in leap years: MRR must not jump in a
                           leap year for the same price; 1 a day → 30.42)
each then ÷ `interval_count`. One multiplication and one division per amount, so nothing is
lost before the final rounding.

Discounts (`applies_to_recurring=True` only, e.g. a `forever` or still-running `repeating`
coupon; a `once` coupon has `applies_to_recurring=False`), as invoicing applies them: a percent
discount takes its percentage of the recurring base (base fee + recurring add-ons), a fixed
discount takes its amount once per billing interval of the subscription (normalised like the
base fee), and all of them together never take the MRR below 0 (a 100% discount gives 0, a
free customer: churn in the movements).

Precision: `subscription_mrr` keeps full precision; `recurring_revenue` sums one currency's
subscriptions and rounds once (`round_money`, ROUND_HALF_UP). ARR is 12 × the unrounded MRR,
rounded once, so a 2,000 a year plan shows MRR 166.67 and ARR 2000.00 (not 12 × 166.67).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from catalog.money import round_money

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MONTHS_PER_YEAR = 12

# interval -> (multiplier, divisor) that turns one interval's amount into a month's.
MONTH_FACTORS: dict[str, tuple[int, int]] = {
    "day": (365, 12),
    "week": (52, 12),
    "month": (1, 1),
    "year": (1, 12),
}
ONE_TIME = "one_time"  # an add-on interval that never counts (a one-time fee)
COUNTED_STATUSES = frozenset({"active", "past_due"})
DISCOUNT_KINDS = frozenset({"percent", "fixed"})


@dataclass(frozen=True)
class RecurringAddon:
    """An add-on of the subscription: `amount` per `interval_count` intervals per unit."""

    amount: Decimal
    interval: str  # day | week | month | year, or one_time (counts 0)
    quantity: int | Decimal = 1
    interval_count: int = 1

    def __post_init__(self) -> None:
        _check_amount(self.amount, "Add-on amount")
        _check_quantity(self.quantity)
        if self.interval != ONE_TIME:
            _check_interval(self.interval, self.interval_count)


@dataclass(frozen=True)
class Discount:
    """`percent`: `value` percent off (0 < value <= 100); `fixed`: `value` off each invoice, in
    the subscription's currency. Only discounts that recur count (`applies_to_recurring`)."""

    kind: str
    value: Decimal
    applies_to_recurring: bool = True

    def __post_init__(self) -> None:
        if self.kind not in DISCOUNT_KINDS:
            raise ValueError(f"Discount kind must be percent or fixed, not {self.kind!r}.")
        _check_amount(self.value, "Discount value")
        if self.kind == "percent" and not ZERO < self.value <= HUNDRED:
            raise ValueError("A percent discount is above 0 and at most 100.")
        if self.kind == "fixed" and self.value <= 0:
            raise ValueError("A fixed discount is above 0.")


@dataclass(frozen=True)
class Terms:
    """A subscription at one instant: its base price and state."""

    amount: Decimal  # base fee per unit per `interval_count` intervals
    currency: str
    interval: str  # day | week | month | year
    interval_count: int = 1
    quantity: int | Decimal = 1
    status: str = "active"
    trialing: bool = False
    recurring_addons: tuple[RecurringAddon, ...] = ()
    discounts: tuple[Discount, ...] = ()

    def __post_init__(self) -> None:
        _check_amount(self.amount, "Amount")
        _check_quantity(self.quantity)
        _check_interval(self.interval, self.interval_count)


@dataclass(frozen=True)
class RecurringRevenue:
    """One currency's MRR and ARR, rounded to the currency's minor unit."""

    currency: str
    mrr: Decimal
    arr: Decimal


def monthly_amount(amount: Decimal, interval: str, interval_count: int = 1) -> Decimal:
    """`amount` charged every `interval_count` `interval`s, as a month's share (full precision)."""
    _check_interval(interval, interval_count)
    multiplier, divisor = MONTH_FACTORS[interval]
    return amount * multiplier / (divisor * interval_count)


def counts_for_mrr(terms: Terms) -> bool:
    """A paying subscription: active or past_due, and not in a trial."""
    return terms.status in COUNTED_STATUSES and not terms.trialing


def subscription_mrr(terms: Terms) -> Decimal:
    """The subscription's MRR in its currency, full precision (not rounded), never below 0."""
    if not counts_for_mrr(terms):
        return ZERO
    base = monthly_amount(terms.amount * terms.quantity, terms.interval, terms.interval_count)
    base += sum(
        (
            monthly_amount(addon.amount * addon.quantity, addon.interval, addon.interval_count)
            for addon in terms.recurring_addons
            if addon.interval != ONE_TIME
        ),
        ZERO,
    )
    off = ZERO
    for discount in terms.discounts:
        if not discount.applies_to_recurring:
            continue
        if discount.kind == "percent":
            off += base * discount.value / HUNDRED
        else:
            off += monthly_amount(discount.value, terms.interval, terms.interval_count)
    return max(base - off, ZERO)


def recurring_revenue(terms: Iterable[Terms], currency: str) -> RecurringRevenue:
    """MRR and ARR of subscriptions in `currency` (all of them must be in it), rounded once."""
    total = ZERO
    for one in terms:
        if one.currency != currency:
            raise ValueError(
                f"A {one.currency} subscription in a {currency} total; "
                "MRR is reported per currency."
            )
        total += subscription_mrr(one)
    return RecurringRevenue(
        currency=currency,
        mrr=round_money(total, currency),
        arr=round_money(total * MONTHS_PER_YEAR, currency),
    )


def _check_amount(amount: object, what: str) -> None:
    if not isinstance(amount, Decimal):
        raise TypeError(f"{what} must be a Decimal, not {type(amount).__name__}.")
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a finite Decimal of 0 or more, not {amount}.")


def _check_quantity(quantity: object) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int | Decimal):
        raise TypeError(f"Quantity must be an int or Decimal, not {type(quantity).__name__}.")
    if (isinstance(quantity, Decimal) and not quantity.is_finite()) or quantity < 0:
        raise ValueError(f"Quantity must be finite and 0 or more, not {quantity}.")


def _check_interval(interval: str, interval_count: int) -> None:
    if interval not in MONTH_FACTORS:
        raise ValueError(f"Interval must be day, week, month or year, not {interval!r}.")
    if isinstance(interval_count, bool) or not isinstance(interval_count, int):
        raise TypeError("interval_count must be an int.")
    if interval_count < 1:
        raise ValueError(f"interval_count must be 1 or more, not {interval_count}.")
