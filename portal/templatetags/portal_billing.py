"""Filters of the portal's billing pages."""

from decimal import Decimal

from django import template

from billing.services.documents import money as money_format

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
