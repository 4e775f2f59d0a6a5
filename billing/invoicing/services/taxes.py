"""Tax on invoices: the calculator's answer (billing/tax) applied to an invoice's lines.

The order matters: the charge lines are taxed first (an inclusive price becomes its net, so
every amount on a line is net of tax), then coupons are computed on those nets, then each
discount line takes back tax in proportion to the lines it discounts (coupons reduce the
taxable amount), then the invoice adds its taxes per name, jurisdiction and rate — the lines'
rounded tax, or with `rounding: invoice` the unrounded tax rounded once per rate.

A draft is taxed when it is made (on the day of its `at`) and again when it is finalized, on
its tax point (the customer's local day of the finalization), with the customer's address and
VAT status of that moment; a finalized invoice is never taxed again.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from billing.invoicing.models.invoices import Invoice, InvoiceLine
from billing.invoicing.services.discounts import discounted_lines, is_discount_line
from billing.subscriptions.models.subscriptions import Subscription
from billing.tax.calculators import Sale, TaxableLine, calculator
from billing.tax.engine import LineTax, TaxAmount, invoice_notes, invoice_taxes
from billing.tax.services import TaxSetup, buyer_for, tax_setup
from catalog.models import TaxBehavior, TaxCode
from catalog.money import round_money
from customers.dates import customer_zone, local_date
from customers.models import Customer, TaxIdStatus

ZERO = Decimal(0)
HUNDRED = Decimal(100)
RATE_PLACES = Decimal("0.0001")
TAX_LINE_FIELDS = ["amount", "unit_amount", "tax_rate", "tax_amount", "taxes"]
# The name a line without tax shows for its jurisdiction's tax.
ZERO_NAMES = {"US": "sales_tax", "CA": "GST", "AU": "GST", "NZ": "GST", "SG": "GST", "IN": "IGST"}


def tax_point(customer: Customer, at: datetime) -> date:
    """The invoice's date for tax: the customer's local day of `at`."""
    return local_date(at, customer_zone(customer))


def _text(value: Decimal) -> str:
    """A rate as the API shows it: 19, 9.975, 25.5 (no trailing zeros, no exponent)."""
    return format(value.normalize(), "f")


@dataclass
class _Terms:
    code: str
    behavior: str


def _plan_terms(lines: list[InvoiceLine]) -> dict[int, _Terms]:
    """Each subscription's plan tax code and behaviour, from the cached rows where they are,
    in one query for the rest."""
    terms, missing = {}, set()
    for line in lines:
        if line.subscription_id is None or line.subscription_id in terms:
            continue
        sub = line.subscription if InvoiceLine.subscription.is_cached(line) else None
        if sub is not None and Subscription.plan.is_cached(sub):
            terms[sub.pk] = _Terms(sub.plan.tax_code, sub.plan.tax_behavior)
        else:
            missing.add(line.subscription_id)
    missing -= set(terms)
    if missing:
        for pk, code, behavior in Subscription.objects.filter(pk__in=missing).values_list(
            "pk", "plan__tax_code", "plan__tax_behavior"
        ):
            terms[pk] = _Terms(code, behavior)
    return terms


def _line_terms(line: InvoiceLine, plans: dict[int, _Terms]) -> _Terms:
    plan = plans.get(line.subscription_id) or _Terms(TaxCode.SAAS, TaxBehavior.EXCLUSIVE)
    return _Terms(line.tax_code or plan.code, line.tax_behavior or plan.behavior)


def _gross(line: InvoiceLine, behavior: str) -> Decimal:
    """What the line's price was: an inclusive line taxed before holds its net and tax."""
    if behavior == TaxBehavior.INCLUSIVE and line.taxes:
        return line.amount + line.tax_amount
    return line.amount


def _zero_row(line_tax: LineTax, country: str, currency: str) -> dict:
    return {
        "name": ZERO_NAMES.get(country, "VAT"),
        "jurisdiction": line_tax.jurisdiction,
        "rate": "0",
        "taxable_amount": str(line_tax.net),
        "amount": str(round_money(ZERO, currency)),
        "reason": line_tax.reason,
    }


def _store(line: InvoiceLine, line_tax: LineTax, country: str, currency: str) -> None:
    if line_tax.net != line.amount and line.amount:
        line.unit_amount = line.unit_amount * line_tax.net / line.amount
    line.amount = line_tax.net
    line.tax_amount = line_tax.tax
    line.tax_rate = line_tax.rate
    if line_tax.taxes:
        line.taxes = [
            {
                "name": t.name,
                "jurisdiction": t.jurisdiction,
                "rate": _text(t.rate),
                "taxable_amount": str(t.taxable_amount),
                "amount": str(t.rounded),
                "reason": t.reason,
            }
            for t in line_tax.taxes
        ]
    else:
        line.taxes = [_zero_row(line_tax, country, currency)]
    line.line_tax = line_tax


def _discount_tax(discount: InvoiceLine, eligible: list[InvoiceLine], currency: str) -> LineTax:
    """A discount line's tax: the discount spread over the lines it discounts by their net,
    each part carrying that line's components (negative)."""
    base = sum((ln.amount for ln in eligible), ZERO)
    parts: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    reasons = []
    for line in eligible:
        line_tax: LineTax = line.line_tax
        reasons.append((line_tax.reason, line_tax.jurisdiction, line_tax.note))
        if base == 0:
            continue
        portion = discount.amount * line.amount / base
        if not line_tax.taxes:  # a line without tax: its zero row shrinks too
            zero = line.taxes[0]
            parts[(zero["name"], zero["jurisdiction"], ZERO, zero["reason"])][0] += portion
            continue
        for t in line_tax.taxes:
            key = (t.name, t.jurisdiction, t.rate, t.reason)
            share = t.taxable_amount / line.amount if line.amount else Decimal(1)
            parts[key][0] += portion * share
            parts[key][1] += portion * share * t.rate / HUNDRED
    reason, jurisdiction, note = reasons[0] if reasons else ("not_collecting", "", "")
    taxes = tuple(
        TaxAmount(
            name=name,
            jurisdiction=where,
            rate=rate,
            taxable_amount=round_money(taxable, currency),
            amount=amount,
            rounded=round_money(amount, currency),
            reason=why,
        )
        for (name, where, rate, why), (taxable, amount) in parts.items()
    )
    if taxes:
        reason = taxes[0].reason
    return LineTax(
        net=discount.amount, taxes=taxes, reason=reason, note=note, jurisdiction=jurisdiction
    )


def tax_rows(summary: dict[tuple, list[Decimal]], currency: str) -> list[dict]:
    """An invoice's or credit note's `taxes`: {(name, jurisdiction, rate, reason): [taxable,
    tax]} as rows, amounts rounded to the currency."""
    return [
        {
            "name": name,
            "jurisdiction": jurisdiction,
            "rate": rate,
            "reason": reason,
            "taxable_amount": str(round_money(taxable, currency)),
            "amount": str(round_money(amount, currency)),
        }
        for (name, jurisdiction, rate, reason), (taxable, amount) in summary.items()
    ]


class InvoiceTaxer:
    """Taxes the lines of many invoices with one load of the seller's set-up."""

    def __init__(self, setup: TaxSetup | None = None):
        self.setup = setup or tax_setup()
        self.calculator = calculator()

    def sale(self, customer: Customer, currency: str, on: date) -> Sale:
        buyer = buyer_for(customer)
        return Sale(
            setup=self.setup,
            buyer=buyer,
            currency=currency,
            on=on,
            postal_code=customer.address_postal_code,
            tax_id=customer.tax_id if buyer.business else "",
        )

    def charges(
        self, *, customer: Customer, currency: str, lines: list[InvoiceLine], on: date
    ) -> None:
        """Tax the charge lines (not the discount lines), in place."""
        charges = [ln for ln in lines if not is_discount_line(ln)]
        if not charges:
            return
        plans = _plan_terms(charges)
        terms = [_line_terms(ln, plans) for ln in charges]
        taxable = [
            TaxableLine(
                amount=_gross(ln, t.behavior),
                tax_code=t.code,
                behavior=t.behavior,
                reference=str(index),
            )
            for index, (ln, t) in enumerate(zip(charges, terms, strict=True))
        ]
        sale = self.sale(customer, currency, on)
        answers = self.calculator.calculate(sale, taxable)
        for line, line_tax in zip(charges, answers, strict=True):
            _store(line, line_tax, sale.buyer.country, currency)

    def discounts(self, *, customer: Customer, currency: str, lines: list[InvoiceLine]) -> None:
        """Tax the discount lines in proportion to the charges they discount (taxed first)."""
        charges = [ln for ln in lines if not is_discount_line(ln)]
        country = buyer_for(customer).country
        for line in lines:
            if is_discount_line(line):
                eligible = discounted_lines(charges, line.subscription_id)
                _store(line, _discount_tax(line, eligible, currency), country, currency)
                if len({ln.tax_rate for ln in eligible}) > 1 and line.amount:
                    # Lines at several rates: the discount's rate is what it takes back.
                    line.tax_rate = (line.tax_amount / line.amount * HUNDRED).quantize(RATE_PLACES)

    def invoice(self, invoice: Invoice, lines: list[InvoiceLine], on: date) -> None:
        """The invoice's tax rows, notes and total tax from its (taxed) lines: one row per
        name, jurisdiction, rate and reason, sales without tax included at rate 0."""
        line_taxes = [ln.line_tax for ln in lines]
        rows = invoice_taxes(
            line_taxes, currency=invoice.currency, rounding=self.setup.seller.rounding
        )
        summary = {
            (row.name, row.jurisdiction, _text(row.rate), row.reason): [
                row.taxable_amount,
                row.amount,
            ]
            for row in rows
        }
        for line in lines:
            if not line.line_tax.taxes:
                entry = line.taxes[0]
                key = (entry["name"], entry["jurisdiction"], "0", entry["reason"])
                summary.setdefault(key, [ZERO, ZERO])[0] += line.amount
        invoice.taxes = tax_rows(summary, invoice.currency)
        invoice.tax_notes = invoice_notes(line_taxes)
        invoice.tax_date = on
        invoice.tax = sum((row.amount for row in rows), ZERO)
        customer = invoice.customer
        valid = customer.tax_id and customer.tax_id_status == TaxIdStatus.VALID
        invoice.buyer_tax_id = customer.tax_id if valid else ""

    def tax(
        self, *, invoice: Invoice, lines: list[InvoiceLine], on: date, charges_done: bool = False
    ) -> None:
        """Everything at once, for an invoice whose discount lines are already among `lines`."""
        if not charges_done:
            self.charges(customer=invoice.customer, currency=invoice.currency, lines=lines, on=on)
        self.discounts(customer=invoice.customer, currency=invoice.currency, lines=lines)
        self.invoice(invoice, lines, on)
