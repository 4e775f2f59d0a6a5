"""Recognition schedules for invoice lines (ASC 606 / IFRS 15), pure and Decimal-only.

Each invoice line is a performance obligation over its service period [start, end) of
dates: start inclusive, end exclusive, recognised daily over the actual days
(N = (end - start).days, so a year across 29 February has 366 days). Rounding is
cumulative: what is recognised to date is rounded to the currency's minor unit
(ROUND_HALF_UP) and each month is the difference from the month before, so a schedule
always sums to its line exactly. Negative amounts (credit lines) work symmetrically.

A line without a period, or with a zero-length one (a one-time fee), is recognised in full
on one date. Usage and proration charges are ordinary lines over their own period (the
period consumed; the days left after an upgrade).

"Recognised to date on `on`" means the days before `on` (end-exclusive, like periods):
at the end of January, `on` is 1 February.

Dates only: the caller converts instants to the customer's local dates first.
Never mix currencies: waterfalls and roll-forwards are per currency.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from catalog.money import money_places_error, round_money

Schedule = list[tuple[str, Decimal]]  # [("2026-01", Decimal("55.89")), ...] in month order


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; str() gives its key "YYYY-MM"."""

    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> "Month":
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, key: str) -> "Month":
        year, month = key.split("-")
        return cls(int(year), int(month))

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> "Month":
        if self.month == 12:
            return Month(self.year + 1, 1)
        return Month(self.year, self.month + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Reversal:
    """A credit of `from_deferred + from_revenue` against one line."""

    schedule: Schedule  # the line's new schedule; sums to amount - credit
    from_deferred: Decimal  # taken off the deferred balance (later days reduced)
    from_revenue: Decimal  # excess beyond the deferred balance: less revenue in `at`'s month


def recognized_to_date(amount: Decimal, currency: str, start: date, end: date, on: date) -> Decimal:
    """What of `amount` over [start, end) is recognised for the days before `on`.

    A zero-length period (start == end) is recognised in full from the day after `start`.
    """
    amount = _money(amount, currency)
    _check_dates(on)
    days = _period_days(start, end)
    if days == 0:
        return amount if on > start else _zero(currency)
    elapsed = min(max((on - start).days, 0), days)
    return round_money(amount * elapsed / days, currency)


def deferred_at(amount: Decimal, currency: str, start: date, end: date, on: date) -> Decimal:
    """What of `amount` over [start, end) is still deferred for the days from `on` on."""
    return amount - recognized_to_date(amount, currency, start, end, on)


def schedule(
    amount: Decimal,
    currency: str,
    start: date | None,
    end: date | None,
    point_in_time: date | None = None,
) -> Schedule:
    """Monthly amounts of one line, in month order, summing to `amount` exactly.

    Every month the period touches is listed (a month may be zero). Without a period, or
    with a zero-length one, the whole amount falls in the month of `point_in_time` (or of
    `start` for a zero-length period).
    """
    amount = _money(amount, currency)
    if start is None or end is None or start == end:
        day = point_in_time or start
        if day is None:
            raise ValueError("A line without a service period needs a point_in_time date.")
        _check_dates(day)
        return [(str(Month.of(day)), amount)]
    _period_days(start, end)
    result: Schedule = []
    before = _zero(currency)
    month = Month.of(start)
    while month.first_day < end:
        to_date = recognized_to_date(amount, currency, start, end, month.next().first_day)
        result.append((str(month), to_date - before))
        before = to_date
        month = month.next()
    return result


def reverse(
    amount: Decimal,
    currency: str,
    start: date | None,
    end: date | None,
    credit: Decimal,
    at: date,
    point_in_time: date | None = None,
) -> Reversal:
    """Take `credit` (credit note, cancellation, SLA credit) off one line on date `at`.

    `credit` has the line's sign (positive for an ordinary line). It comes off what is still
    deferred on `at` first: the balance left is spread over the remaining days [at, end)
    with the same cumulative rounding. Any excess reduces revenue in the month of `at`.
    Nothing recognised for the days before `at` changes.
    """
    amount, credit = _money(amount, currency), _money(credit, currency)
    _check_dates(at)
    if amount * credit < 0:
        raise ValueError("A credit has the sign of the line it reverses.")
    if start is None or end is None or start == end:
        # Recognised in full on one date: nothing is deferred after that date.
        start = end = point_in_time or start
        if start is None:
            raise ValueError("A line without a service period needs a point_in_time date.")
    recognized = recognized_to_date(amount, currency, start, end, at)
    deferred = amount - recognized
    from_deferred = credit if abs(credit) <= abs(deferred) else deferred
    from_revenue = credit - from_deferred

    months: dict[str, Decimal] = {}
    # Days before `at` keep what they had; the at-month gets only its days before `at`.
    for key, value in schedule(amount, currency, start, end):
        month = Month.parse(key)
        if month.next().first_day <= at:
            months[key] = value
        elif month.first_day <= at:
            before = recognized_to_date(amount, currency, start, end, month.first_day)
            months[key] = recognized - before
    if end >= at:
        # The deferred balance left, over the remaining days (start may be later than `at`;
        # a one-date line credited on its date has its whole amount left here).
        remaining_start = max(at, start)
        rest = schedule(deferred - from_deferred, currency, remaining_start, end)
        for key, value in rest:
            months[key] = months.get(key, _zero(currency)) + value
    at_key = str(Month.of(at))
    months[at_key] = months.get(at_key, _zero(currency)) - from_revenue
    return Reversal(sorted(months.items()), from_deferred, from_revenue)


def waterfall(
    lines: Iterable[tuple[str, Schedule]],
) -> dict[str, dict[str, Decimal]]:
    """Booking month x recognition month: the sum of each booked line's schedule.

    `lines` are (booking month "YYYY-MM", schedule) pairs of one currency. Rows and columns
    come out in month order.
    """
    table: dict[str, dict[str, Decimal]] = {}
    for booked, line_schedule in lines:
        row = table.setdefault(booked, {})
        for key, value in line_schedule:
            row[key] = row.get(key, Decimal(0)) + value
    return {booked: dict(sorted(row.items())) for booked, row in sorted(table.items())}


def roll_forward(
    opening: Decimal, billed: Decimal, recognized: Decimal, reversed: Decimal
) -> Decimal:
    """Closing deferred revenue: opening + billed - recognised - reversed."""
    for value in (opening, billed, recognized, reversed):
        if not isinstance(value, Decimal):
            raise TypeError(f"Amounts must be Decimal, not {type(value).__name__}.")
    return opening + billed - recognized - reversed


def check_roll_forward(
    opening: Decimal, billed: Decimal, recognized: Decimal, reversed: Decimal, closing: Decimal
) -> None:
    """Raise ValueError unless opening + billed - recognised - reversed == closing."""
    expected = roll_forward(opening, billed, recognized, reversed)
    if expected != closing:
        raise ValueError(
            f"Deferred revenue does not roll forward: {opening} + {billed} - {recognized}"
            f" - {reversed} = {expected}, not {closing}."
        )


def _period_days(start: date, end: date) -> int:
    _check_dates(start, end)
    if end < start:
        raise ValueError(f"A service period ends ({end}) before it starts ({start}).")
    return (end - start).days


def _check_dates(*days: date) -> None:
    for day in days:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"Pass local dates, not {type(day).__name__}.")


def _money(amount: Decimal, currency: str) -> Decimal:
    """`amount` with the currency's places; it must already fit them."""
    rounded = round_money(amount, currency)  # TypeError for floats, ValueError for unknown
    error = money_places_error(amount, currency)
    if error:
        raise ValueError(error)
    return rounded


def _zero(currency: str) -> Decimal:
    return round_money(Decimal(0), currency)
