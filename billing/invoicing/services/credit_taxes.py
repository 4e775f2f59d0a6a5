"""The tax a credit note carries: in proportion to what it credits of each invoice line.

A line credited in part carries the same share of its tax (25.00 credited of a line taxed at
25% exclusive carries 5.00); the rest of a line carries exactly the tax still left on it, so a
line credited in several notes gives back its tax to the cent and never more. The tax is split
over the line's components (Quebec: GST and QST) by their amounts."""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum

from billing.invoicing.models.credits import CreditNote, CreditNoteLine
from billing.invoicing.models.invoices import Invoice
from billing.invoicing.services.taxes import tax_rows
from catalog.money import round_money

ZERO = Decimal(0)


def _tax_left(invoice: Invoice) -> dict[int, Decimal]:
    credited = dict(
        CreditNoteLine.objects.filter(
            credit_note__invoice=invoice, credit_note__status="issued", invoice_line__isnull=False
        )
        .values_list("invoice_line")
        .annotate(tax=Sum("tax_amount"))
        .values_list("invoice_line", "tax")
    )
    return {line.pk: line.tax_amount - credited.get(line.pk, ZERO) for line in invoice.lines.all()}


def credit_lines_tax(
    invoice: Invoice, note_lines: list[CreditNoteLine], left: dict[int, Decimal]
) -> None:
    """Set `tax_amount` on each unsaved credit note line; `left` is what is left to credit per
    invoice line (tax included) before this note."""
    tax_left = _tax_left(invoice)
    for note_line in note_lines:
        line = note_line.invoice_line
        if line is None:
            note_line.tax_amount = ZERO
            continue
        remaining = tax_left[line.pk]
        if note_line.amount == left.get(line.pk):
            tax = remaining  # the rest of the line: exactly the tax left on it
        else:
            gross = line.amount + line.tax_amount
            tax = round_money(note_line.amount * line.tax_amount / gross, invoice.currency)
            tax = max(min(tax, remaining), ZERO)
        note_line.tax_amount = tax


def credit_note_taxes(note: CreditNote, note_lines: list[CreditNoteLine]) -> None:
    """The note's `tax`, `subtotal` and `taxes` rows (per name, jurisdiction, rate, reason)."""
    rows: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for note_line in note_lines:
        line = note_line.invoice_line
        if line is None or not line.taxes:
            continue
        net = note_line.amount - note_line.tax_amount
        line_tax = sum((Decimal(t["amount"]) for t in line.taxes), ZERO)
        given = ZERO
        for index, t in enumerate(line.taxes):
            key = (t["name"], t["jurisdiction"], t["rate"], t["reason"])
            if index == len(line.taxes) - 1:
                amount = note_line.tax_amount - given
            elif line_tax:
                amount = round_money(
                    note_line.tax_amount * Decimal(t["amount"]) / line_tax, note.currency
                )
            else:
                amount = ZERO
            given += amount
            share = Decimal(t["taxable_amount"]) / line.amount if line.amount else Decimal(1)
            rows[key][0] += round_money(net * share, note.currency)
            rows[key][1] += amount
    note.tax = sum((n.tax_amount for n in note_lines), ZERO)
    note.subtotal = note.total - note.tax
    note.taxes = tax_rows(rows, note.currency)
