"""Billing periods: laying a subscription's periods out in the customer's time zone, and
prorating by days.

Conventions:
- Billing is by local calendar day in the customer's time zone (an IANA name). A period is
  a half-open interval of local dates [start_date, end_date); its datetime bounds are the
  local midnights of those dates as aware UTC datetimes. Where local midnight does not exist
  (a DST gap at 00:00) the bound is the first instant of that date that exists (the end of
  the gap); where it exists twice (a fold) the bound is the first occurrence.
- Intervals are "day", "week", "month" and "year", each times `interval_count` (>= 1).
- Boundary n is computed from the anchor, never from the previous period. Months and years
  keep the anchor's day of month (`anchor_day`, 1..31) clamped to the month's end, so an
  anchor on Jan 31 gives Jan 31, Feb 28 (29), Mar 31, Apr 30, ...; Feb 29 yearly gives
  Feb 28 in common years and Feb 29 again in leap years.
- Anniversary billing anchors on the local date of `start_at`. With `billing_day` (month
  and year intervals only) the first boundary is the first date >= the start date whose day
  is min(billing_day, month end); if it is later than the start date, the first period is
  a stub [start_date, first boundary) with index -1.
- Proration is by days, days / days_in_period. The day a change takes effect counts for the
  new terms. A stub is prorated against the full period that ends where the stub ends.
- Amounts are Decimal only. prorate() is unrounded (50 significant digits); the invoice line
  rounds once (catalog.money.round_money).
"""

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, localcontext
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INTERVALS = ("day", "week", "month", "year")

_PRORATION_PRECISION = 50


@dataclass(frozen=True)
class Schedule:
    """How a subscription's periods are laid out."""

    interval: str
    interval_count: int
    anchor: date  # local date of boundary 0 of the regular periods
    anchor_day: int  # day of month the anchor wants (1..31), for clamping; unused by day/week
    start_date: date  # local date the subscription starts (== anchor unless there is a stub)
    tz: str  # IANA name

    def __post_init__(self):
        if self.interval not in INTERVALS:
            raise ValueError(
                f"Unknown interval {self.interval!r}; use one of {', '.join(INTERVALS)}."
            )
        _check_int(self.interval_count, "interval_count", minimum=1)
        _check_day(self.anchor_day, "anchor_day")
        _zone(self.tz)
        if self.interval in ("month", "year"):
            wanted = min(self.anchor_day, _month_length(self.anchor.year, self.anchor.month))
            if self.anchor.day != wanted:
                raise ValueError(
                    f"The anchor {self.anchor} does not fall on anchor_day {self.anchor_day} "
                    "(clamped to the month's end)."
                )
        if not boundary(self, -1) < self.start_date <= self.anchor:
            raise ValueError(
                f"The start date {self.start_date} must lie within one interval before the "
                f"anchor {self.anchor} (a stub is shorter than a full period)."
            )


@dataclass(frozen=True)
class Period:
    index: int  # -1 for the stub, 0.. for regular periods
    start_date: date  # local, half-open
    end_date: date
    start: datetime  # aware UTC, local midnights
    end: datetime
    is_stub: bool

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days


def schedule_for(
    *,
    start_at: datetime,
    tz: str,
    interval: str,
    interval_count: int = 1,
    billing_day: int | None = None,
) -> Schedule:
    """The schedule of a subscription starting at `start_at`: anniversary billing, or aligned
    on `billing_day` (month and year intervals) with a stub first period."""
    start_date = local_date(start_at, tz)
    if billing_day is None:
        return Schedule(
            interval=interval,
            interval_count=interval_count,
            anchor=start_date,
            anchor_day=start_date.day,
            start_date=start_date,
            tz=tz,
        )
    _check_day(billing_day, "billing_day")
    if interval not in ("month", "year"):
        raise ValueError(
            f"billing_day applies to month and year intervals only, not to {interval!r}; "
            "week and day plans bill on the anniversary of their start."
        )
    first = _shift_months(start_date, 0, billing_day)
    if first < start_date:
        first = _shift_months(start_date, 1, billing_day)
    return Schedule(
        interval=interval,
        interval_count=interval_count,
        anchor=first,
        anchor_day=billing_day,
        start_date=start_date,
        tz=tz,
    )


def boundary(schedule: Schedule, n: int) -> date:
    """Local date of regular boundary n (n may be negative: -1 is one interval before the
    anchor)."""
    try:
        if schedule.interval in ("month", "year"):
            return _shift_months(schedule.anchor, n * _months(schedule), schedule.anchor_day)
        return schedule.anchor + timedelta(days=n * _days(schedule))
    except OverflowError:
        raise ValueError(f"Boundary {n} of the schedule is out of the date range.") from None


def period(schedule: Schedule, index: int) -> Period:
    """Period `index`: -1 is the stub (ValueError if there is none), 0.. the regular ones."""
    if index == -1:
        if not has_stub(schedule):
            raise ValueError("This schedule has no stub period (it starts on its anchor).")
        return _period(schedule, -1, schedule.start_date, schedule.anchor)
    if index < -1:
        raise ValueError(f"Period indexes start at -1 (the stub), not {index}.")
    return _period(schedule, index, boundary(schedule, index), boundary(schedule, index + 1))


def has_stub(schedule: Schedule) -> bool:
    return schedule.start_date < schedule.anchor


def first_period(schedule: Schedule) -> Period:
    """The stub if there is one, else period 0."""
    return period(schedule, -1 if has_stub(schedule) else 0)


def period_containing(schedule: Schedule, at: datetime) -> Period:
    """The period whose [start, end) contains the instant `at` (ValueError before the start)."""
    _check_aware(at)
    first = first_period(schedule)
    if at < first.start:
        raise ValueError(f"{at} is before the schedule starts ({first.start}).")
    day = local_date(at, schedule.tz)
    index = _regular_index(schedule, day) if day >= schedule.anchor else first.index
    current = period(schedule, index)
    # The local date gives the period; the UTC bounds decide when a fold crosses midnight.
    while at < current.start:
        current = period(schedule, current.index - 1)
    while at >= current.end:
        current = period(schedule, current.index + 1)
    return current


def periods_between(schedule: Schedule, start: datetime, end: datetime) -> Iterator[Period]:
    """The periods overlapping [start, end), in order (none when end <= start)."""
    _check_aware(start)
    _check_aware(end)
    first = first_period(schedule)
    if end <= first.start or end <= start:
        return iter(())
    current = first if start < first.start else period_containing(schedule, start)
    return _periods_from(schedule, current, end)


def _periods_from(schedule: Schedule, current: Period, end: datetime) -> Iterator[Period]:
    while current.start < end:
        yield current
        current = period(schedule, current.index + 1)


def next_period(schedule: Schedule, current: Period) -> Period:
    """The period after `current`, which must be a period of `schedule`."""
    if period(schedule, current.index) != current:
        raise ValueError(f"{current} is not a period of this schedule.")
    return period(schedule, current.index + 1)


@lru_cache(maxsize=65536)
def local_midnight(d: date, tz: str) -> datetime:
    """The first instant of local date `d` in `tz`, as an aware UTC datetime (cached: bill
    runs ask for the same few dates millions of times)."""
    zone = _zone(tz)
    midnight = datetime.combine(d, time(0), tzinfo=zone)  # fold=0: a fold's first occurrence
    instant = midnight.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == midnight.replace(tzinfo=None):
        return instant
    # Midnight falls in a gap. The gap's end is the first instant whose local date is >= d:
    # search it between the two readings of midnight (before and after the transition).
    low = int(midnight.replace(fold=1).timestamp())  # read with the later offset: before
    high = int(instant.timestamp())  # read with the earlier offset: after the gap
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).date() >= d:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def local_date(at: datetime, tz: str) -> date:
    """The customer's local date at the instant `at` (aware)."""
    _check_aware(at)
    return at.astimezone(_zone(tz)).date()


def full_period_days(schedule: Schedule, end_date: date) -> int:
    """Days of the full period ending at `end_date`, a boundary of the schedule: for a stub,
    the regular period it would be if the subscription had started one interval earlier."""
    n = _regular_index(schedule, end_date)
    if boundary(schedule, n) != end_date:
        raise ValueError(f"{end_date} is not a period boundary of this schedule.")
    return (end_date - boundary(schedule, n - 1)).days


def prorate(amount: Decimal, days: int, days_in_period: int) -> Decimal:
    """amount * days / days_in_period, unrounded (50 significant digits); round once later."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"Amounts must be Decimal, not {type(amount).__name__}.")
    if not amount.is_finite():
        raise ValueError(f"Amounts must be finite, not {amount}.")
    _check_int(days_in_period, "days_in_period", minimum=1)
    _check_int(days, "days", minimum=0)
    if days > days_in_period:
        raise ValueError(f"days ({days}) must not exceed days_in_period ({days_in_period}).")
    with localcontext(prec=_PRORATION_PRECISION):
        return amount * days / days_in_period


def split_days(p: Period, effective_date: date) -> tuple[int, int]:
    """(days on the old terms, days on the new terms) for a change effective on local date
    `effective_date`; that day itself counts for the new terms."""
    if not p.start_date <= effective_date <= p.end_date:
        raise ValueError(
            f"The change date {effective_date} is outside the period {p.start_date}..{p.end_date}."
        )
    return (effective_date - p.start_date).days, (p.end_date - effective_date).days


def rest_of_period(schedule: Schedule, p: Period, start_date: date) -> Period:
    """The part of `p` from local date `start_date` on: a stub (the rest of a period after a
    change), prorated against the full period that ends where it ends."""
    if not p.start_date <= start_date < p.end_date:
        raise ValueError(f"{start_date} is not inside the period {p.start_date}..{p.end_date}.")
    return Period(
        index=p.index,
        start_date=start_date,
        end_date=p.end_date,
        start=local_midnight(start_date, schedule.tz),
        end=p.end,
        is_stub=True,
    )


def _period(schedule: Schedule, index: int, start_date: date, end_date: date) -> Period:
    return Period(
        index=index,
        start_date=start_date,
        end_date=end_date,
        start=local_midnight(start_date, schedule.tz),
        end=local_midnight(end_date, schedule.tz),
        is_stub=index == -1,
    )


def _regular_index(schedule: Schedule, d: date) -> int:
    """The largest n with boundary(n) <= d (computed, not counted)."""
    if schedule.interval in ("day", "week"):
        return (d - schedule.anchor).days // _days(schedule)
    months = (d.year - schedule.anchor.year) * 12 + d.month - schedule.anchor.month
    n = months // _months(schedule)
    # Boundary n lies in d's month or before it; in d's month its day may still be ahead.
    if boundary(schedule, n) > d:
        n -= 1
    return n


def _shift_months(d: date, months: int, day: int) -> date:
    """The date `months` months after d's month, on `day` clamped to that month's end."""
    year, month = divmod(d.year * 12 + d.month - 1 + months, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise OverflowError
    return date(year, month, min(day, _month_length(year, month)))


def _month_length(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _months(schedule: Schedule) -> int:
    return schedule.interval_count * (12 if schedule.interval == "year" else 1)


def _days(schedule: Schedule) -> int:
    return schedule.interval_count * (7 if schedule.interval == "week" else 1)


def _zone(tz: str) -> ZoneInfo:
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"A time zone is an IANA name such as 'Europe/Paris', not {tz!r}.")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"Unknown time zone {tz!r}; use an IANA name such as 'Europe/Paris'."
        ) from None


def _check_aware(at: object) -> None:
    if not isinstance(at, datetime):
        raise ValueError(f"Expected an aware datetime, not {type(at).__name__}.")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at} is a naive datetime; give an aware one (UTC).")


def _check_day(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31:
        raise ValueError(f"{name} must be a day of the month, 1 to 31, not {value!r}.")


def _check_int(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, not {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}.")
