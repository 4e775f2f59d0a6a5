"""Shared by the billing period tests (test_periods*.py)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing.subscriptions.periods import Schedule, boundary, local_midnight, schedule_for

MICROSECOND = timedelta(microseconds=1)
CENT = Decimal("0.01")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def monthly(start: date, tz: str = "UTC", interval: str = "month", **kwargs) -> Schedule:
    """A schedule starting at the local midnight of `start` (month unless told otherwise)."""
    return schedule_for(start_at=local_midnight(start, tz), tz=tz, interval=interval, **kwargs)


def boundaries(schedule: Schedule, count: int) -> list[date]:
    return [boundary(schedule, n) for n in range(count)]
