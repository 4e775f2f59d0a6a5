"""Who computes a sale's tax: the built-in engine (dated tables, the default) or an external
engine behind `settings.TAX_ENGINE`. Every calculator answers the same question: the taxes of
the lines of one invoice for one buyer on one tax point."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from billing.tax.engine import Buyer, LineTax, line_tax, tax_decide
from billing.tax.services import TaxSetup


class TaxEngineError(Exception):
    """The external engine gave no usable answer: nothing is invoiced for this customer now
    (the bill run records it and goes on with the others)."""


@dataclass(frozen=True)
class TaxableLine:
    amount: Decimal  # the net (exclusive) or the gross (inclusive)
    tax_code: str  # saas | digital | services | exempt
    behavior: str  # exclusive | inclusive
    reference: str = ""  # stable id of the line in the request (external engines)


@dataclass(frozen=True)
class Sale:
    setup: TaxSetup
    buyer: Buyer
    currency: str
    on: date  # the tax point
    postal_code: str = ""
    tax_id: str = ""  # the buyer's normalised VAT/GST number, when valid


class TaxCalculator(Protocol):
    def calculate(self, sale: Sale, lines: list[TaxableLine]) -> list[LineTax]:
        """One LineTax per line, in order."""
        ...


class BuiltinCalculator:
    def calculate(self, sale: Sale, lines: list[TaxableLine]) -> list[LineTax]:
        return [
            line_tax(
                amount=line.amount,
                decision=tax_decide(
                    seller=sale.setup.seller,
                    buyer=sale.buyer,
                    tax_code=line.tax_code,
                    on=sale.on,
                    overrides=sale.setup.overrides,
                ),
                currency=sale.currency,
                behavior=line.behavior,
            )
            for line in lines
        ]


CALCULATORS = {
    "builtin": "billing.tax.calculators.BuiltinCalculator",
    "stripe_tax": "billing.tax.stripe_tax.StripeTaxCalculator",
}


def calculator() -> TaxCalculator:
    """The calculator `settings.TAX_ENGINE` names."""
    name = getattr(settings, "TAX_ENGINE", "builtin")
    if name not in CALCULATORS:
        raise TaxEngineError(f"TAX_ENGINE {name!r} is not one of {sorted(CALCULATORS)}")
    return import_string(CALCULATORS[name])()
