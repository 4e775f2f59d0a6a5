"""Filters of the portal's billing pages."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import template

from billing.invoicing.services.documents import money as money_format
from billing.invoicing.services.documents import period_label
from customers.dates import customer_day

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """`{{ invoice.total|money:invoice.currency }}` → "1,234.50 USD"."""
    if amount is None:
        return ""
    return money_format(amount, currency)


@register.filter
def number(value: Decimal | None) -> str:
    """A usage value without trailing zeros: 12.5000 → "12.5"."""
    if value is None:
        return ""
    return f"{value.normalize():f}"


@register.simple_tag
def period(start, end, customer) -> str:
    """`{% period sub.current_period_start sub.current_period_end sub.customer %}` → "27 Nov
    2026 – 26 Dec 2026": the customer's local days, the last one included (as on invoices)."""
    return period_label(start, end, ZoneInfo(customer.timezone))


@register.filter
def local_day(value: datetime | None, customer) -> str:
    """`{{ sub.current_period_end|local_day:sub.customer }}` → "27 Dec 2026", the customer's
    local day of an instant: the one rule of PDFs and emails too (customers.dates)."""
    return customer_day(value, customer)
