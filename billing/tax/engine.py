"""The tax engine: pure functions, no database. Which taxes a sale carries (where the seller
collects, the customer's place, business or consumer, the product's tax code), then what a
line carries (exclusive or inclusive prices), an invoice's totals per rate (rounded per line
or once per rate) and a credit note's share.

Amounts are Decimal; rates are percents. Unrounded tax is kept until the rounding rule says
otherwise; `catalog.money.round_money` rounds half-up to the currency's minor unit (JPY 0,
KWD 3 places).
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from billing.tax.rates import EU_COUNTRIES, TaxRate, rates_for
from catalog.money import round_money

ZERO = Decimal(0)
HUNDRED = Decimal(100)
FEDERAL = {"GST", "HST"}  # Canada: collected under the federal registration
REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the customer (Art. 196 VAT Directive)."
)
REVERSE_CHARGE_NOTE_OTHER = "Reverse charge: tax to be accounted for by the customer."


@dataclass(frozen=True)
class Seller:
    country: str
    region: str = ""
    # (country, region) pairs where the seller collects; region "" is the whole country.
    registrations: frozenset[tuple[str, str]] = frozenset()
    eu_oss: bool = True
    rounding: str = "line"  # "line" or "invoice"


@dataclass(frozen=True)
class Buyer:
    country: str
    region: str = ""  # a US state or Canadian province code
    business: bool = False  # holds a valid VAT/GST number
    tax_exempt: str = "none"  # none | exempt | reverse


@dataclass(frozen=True)
class Decision:
    """Where a sale is taxed and at which components; no components means no tax."""

    jurisdiction: str
    reason: str  # standard | reverse_charge | not_collecting | exempt
    components: tuple[TaxRate, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class TaxAmount:
    """One component of a line's tax, unrounded (`amount`) and as the line shows it."""

    name: str
    jurisdiction: str
    rate: Decimal
    taxable_amount: Decimal
    amount: Decimal  # unrounded
    rounded: Decimal
    reason: str


@dataclass(frozen=True)
class LineTax:
    net: Decimal  # the line's amount, net of tax, rounded
    taxes: tuple[TaxAmount, ...] = ()
    reason: str = "standard"
    note: str = ""
    jurisdiction: str = ""

    @property
    def tax(self) -> Decimal:
        return sum((t.rounded for t in self.taxes), ZERO)

    @property
    def rate(self) -> Decimal:
        """The line's rate: the sum of its components' (percent)."""
        return sum((t.rate for t in self.taxes), ZERO)


def _region_code(buyer: Buyer) -> str:
    if buyer.country in ("US", "CA") and buyer.region:
        return f"{buyer.country}-{buyer.region}"
    return buyer.country


def _collects(seller: Seller, country: str, region: str, component: TaxRate) -> bool:
    regs = seller.registrations
    if country == "CA" and component.name in FEDERAL:
        return ("CA", "") in regs or ("CA", region) in regs
    if country in ("US", "CA"):
        return (country, region) in regs
    return (country, "") in regs


@functools.lru_cache(maxsize=4096)
def tax_decide(
    *, seller: Seller, buyer: Buyer, tax_code: str, on: date, overrides: tuple[TaxRate, ...] = ()
) -> Decision:
    """The taxes of a sale to `buyer` on `on` (the tax point) of a product of `tax_code`;
    `overrides` are staff's rates (they replace the table's of the same name). Pure, so its
    answers are cached (a bill run asks the same question thousands of times)."""
    if tax_code == "exempt" or buyer.tax_exempt == "exempt":
        return Decision(jurisdiction=_region_code(buyer), reason="exempt")
    foreign = buyer.country != seller.country
    in_eu = buyer.country in EU_COUNTRIES
    reverse = buyer.tax_exempt == "reverse" or (
        buyer.business and foreign and buyer.country != "US"
    )
    if reverse:
        note = REVERSE_CHARGE_NOTE if in_eu else REVERSE_CHARGE_NOTE_OTHER
        return Decision(jurisdiction=_region_code(buyer), reason="reverse_charge", note=note)
    if in_eu and seller.country in EU_COUNTRIES and foreign and not buyer.business:
        # An EU consumer: its country's rate under OSS, or the home rate under the threshold.
        if (seller.country, "") not in seller.registrations:
            if (buyer.country, "") not in seller.registrations:
                return Decision(jurisdiction=buyer.country, reason="not_collecting")
            return _standard(buyer.country, on, overrides)
        return _standard(buyer.country if seller.eu_oss else seller.country, on, overrides)
    jurisdiction = _region_code(buyer)
    components = tuple(
        c
        for c in rates_for(jurisdiction, on, overrides=overrides)
        if _collects(seller, buyer.country, buyer.region, c)
    )
    if not components:
        return Decision(jurisdiction=jurisdiction, reason="not_collecting")
    return Decision(jurisdiction=jurisdiction, reason="standard", components=components)


def _standard(jurisdiction: str, on: date, overrides: tuple[TaxRate, ...]) -> Decision:
    components = tuple(rates_for(jurisdiction, on, overrides=overrides))
    if not components:
        return Decision(jurisdiction=jurisdiction, reason="not_collecting")
    return Decision(jurisdiction=jurisdiction, reason="standard", components=components)


def _share(component: TaxRate) -> Decimal:
    return component.rate * component.taxable_share / HUNDRED


def line_tax(
    *, amount: Decimal, decision: Decision, currency: str, behavior: str = "exclusive"
) -> LineTax:
    """What a line of `amount` carries: with `behavior` "inclusive", `amount` is the gross and
    net = round(gross / (1 + r)), tax = gross - net, split over the components (the last
    takes the rounding difference); "exclusive": `amount` is the net."""
    if behavior not in ("exclusive", "inclusive"):
        raise ValueError(f"tax_behavior is exclusive or inclusive, not {behavior!r}.")
    components = decision.components
    if behavior == "inclusive" and components:
        net = round_money(amount / (1 + sum(_share(c) for c in components)), currency)
    else:
        net = round_money(amount, currency)
    taxes = []
    for c in components:
        taxable = net * c.taxable_share
        unrounded = net * _share(c)
        taxes.append([c, taxable, unrounded, round_money(unrounded, currency)])
    if behavior == "inclusive" and taxes:
        taxes[-1][3] += round_money(amount, currency) - net - sum(t[3] for t in taxes)
    return LineTax(
        net=net,
        taxes=tuple(
            TaxAmount(
                name=c.name,
                jurisdiction=c.jurisdiction,
                rate=c.rate,
                taxable_amount=round_money(taxable, currency),
                amount=unrounded,
                rounded=rounded,
                reason=decision.reason,
            )
            for c, taxable, unrounded, rounded in taxes
        ),
        reason=decision.reason,
        note=decision.note,
        jurisdiction=decision.jurisdiction,
    )


@dataclass
class RateTotal:
    name: str
    jurisdiction: str
    rate: Decimal
    reason: str
    taxable_amount: Decimal = ZERO
    amount: Decimal = ZERO
    _unrounded: Decimal = field(default=ZERO, repr=False)


def invoice_taxes(lines: Iterable[LineTax], *, currency: str, rounding: str) -> list[RateTotal]:
    """The invoice's taxes, one row per name, jurisdiction and rate: with `rounding` "line" the
    sum of the lines' rounded tax; with "invoice" the unrounded tax summed, rounded once."""
    if rounding not in ("line", "invoice"):
        raise ValueError(f"rounding is line or invoice, not {rounding!r}.")
    rows: dict[tuple, RateTotal] = {}
    for line in lines:
        for t in line.taxes:
            key = (t.name, t.jurisdiction, t.rate, t.reason)
            row = rows.setdefault(key, RateTotal(t.name, t.jurisdiction, t.rate, t.reason))
            row.taxable_amount += t.taxable_amount
            row._unrounded += t.amount
            row.amount += t.rounded
    if rounding == "invoice":
        for row in rows.values():
            row.amount = round_money(row._unrounded, currency)
    return list(rows.values())


def credit_tax(*, amount: Decimal, rate: Decimal, tax_left: Decimal, currency: str) -> Decimal:
    """The tax in `amount` credited (tax included) of an invoice taxed at `rate` percent:
    amount x r / (1 + r), rounded, never more than the invoice's tax still uncredited."""
    r = rate / HUNDRED
    tax = round_money(amount * r / (1 + r), currency)
    return max(ZERO, min(tax, tax_left))


def invoice_notes(lines: Iterable[LineTax]) -> list[str]:
    """The statements the invoice must carry (e.g. the reverse charge), once each."""
    notes: dict[str, None] = {}
    for line in lines:
        if line.note:
            notes[line.note] = None
    return list(notes)
