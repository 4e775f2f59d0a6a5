"""Template filters of the revenue page (templates/admin/reports/revenue.html)."""

from decimal import Decimal

from django import template

from catalog.money import round_money

register = template.Library()


@register.filter
def amount(value: Decimal | None, currency: str) -> str:
    """`{{ row.billed|amount:currency }}` → "1,234.50": the currency's places, thousands
    separators, no code (the table names the currency once); None → "" (an empty cell)."""
    if value is None:
        return ""
    return f"{round_money(Decimal(value), currency):,f}"
