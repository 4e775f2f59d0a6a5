"""Tests of the pure ledger (no database), and the Hypothesis strategy they share: entries made
by the builders from random amounts in one currency."""

import datetime
from decimal import ROUND_DOWN, Decimal

from hypothesis import strategies as st

from catalog.money import currency_precision, from_minor_units
from reports.ledger import entries as ledger

CURRENCIES = ("USD", "EUR", "JPY", "KWD")
SINGLE_AMOUNT_BUILDERS = (
    ledger.recognition_entry,
    ledger.usage_accrual_entry,
    ledger.usage_accrual_reversal_entry,
    ledger.balance_applied_entry,
)


def amounts(currency: str):
    """Amounts from 0 to ten million minor units (100,000.00 USD), in the currency's places."""
    return st.integers(0, 10**7).map(lambda minor: from_minor_units(minor, currency))


def share_of(whole: Decimal, currency: str, quarters: int) -> Decimal:
    """`quarters`/4 of `whole`, rounded down to the currency's places (never above `whole`)."""
    exponent = Decimal(1).scaleb(-currency_precision(currency))
    return (whole * quarters / 4).quantize(exponent, rounding=ROUND_DOWN)


@st.composite
def built_entries(draw, currency: str | None = None):
    """One entry from a random builder with random amounts; a draw of only zeros (nothing to
    post) is drawn again."""
    currency = currency or draw(st.sampled_from(CURRENCIES))
    amount = amounts(currency)
    quarters = st.integers(0, 4)
    header = {
        "date": draw(st.dates(datetime.date(2024, 1, 1), datetime.date(2030, 12, 31))),
        "source": draw(st.sampled_from(["INV-0001", "INV-0002", "PAY-7", "CN-3"])),
        "currency": currency,
    }
    kind = draw(st.sampled_from(["invoice", "payment", "refund", "credit_note", "single"]))
    if kind == "invoice":
        deferred, recognized, tax = draw(amount), draw(amount), draw(amount)
        total = deferred + recognized + tax
        builder, kwargs = (
            ledger.invoice_entry,
            {
                "deferred": deferred,
                "recognized": recognized,
                "tax": tax,
                "from_balance": share_of(total, currency, draw(quarters)),
            },
        )
    elif kind == "credit_note":
        net, tax = draw(amount), draw(amount)
        builder, kwargs = (
            ledger.credit_note_entry,
            {
                "net": net,
                "tax": tax,
                "still_deferred": draw(amount),
                "to_balance": share_of(net + tax, currency, draw(quarters)),
            },
        )
    elif kind == "payment":
        total = draw(amount)
        builder = ledger.payment_entry
        kwargs = {"amount": total, "overpayment": share_of(total, currency, draw(quarters))}
    elif kind == "refund":
        total = draw(amount)
        builder = ledger.refund_entry
        kwargs = {"amount": total, "from_balance": share_of(total, currency, draw(quarters))}
    else:
        builder, kwargs = draw(st.sampled_from(SINGLE_AMOUNT_BUILDERS)), {"amount": draw(amount)}
    try:
        return builder(**header, **kwargs)
    except ValueError as error:
        if "all zero" not in str(error):
            raise
        return draw(built_entries(currency))
