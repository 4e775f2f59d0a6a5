"""The one rule for a date a customer sees (portal, PDF documents, emails): the customer's
local day of an instant, in its time zone, "2 Dec 2026". Staff see the same day with the
zone it is in (`customer_day_with_zone`)."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import dateformat, timezone

DAY_FORMAT = "j M Y"


def local_date(at: datetime, tz: ZoneInfo) -> date:
    return timezone.localtime(at, tz).date()


def day(value: date | None) -> str:
    return dateformat.format(value, DAY_FORMAT) if value else ""


def customer_zone(customer) -> ZoneInfo:
    return ZoneInfo(customer.timezone)


def customer_day(at: datetime | None, customer) -> str:
    """The customer's local day of `at` ("" for None)."""
    return day(local_date(at, customer_zone(customer))) if at else ""


def customer_day_with_zone(at: datetime | None, customer) -> str:
    """ "2 Dec 2026 (Pacific/Auckland)": the customer's day, for staff."""
    return f"{customer_day(at, customer)} ({customer.timezone})" if at else ""
