"""Invoice and credit note numbers: gapless per series and year."""

from datetime import datetime

from billing.invoicing.models.invoices import InvoiceNumberSequence


def invoice_number_take(*, series: str, at: datetime) -> str:
    """The next number of `series` this year. The sequence row stays locked until the caller's
    transaction ends, so numbers are gapless: a rollback gives the number back."""
    year = at.year
    InvoiceNumberSequence.objects.get_or_create(series=series, year=year)
    sequence = InvoiceNumberSequence.objects.select_for_update().get(series=series, year=year)
    value = sequence.next_value
    sequence.next_value = value + 1
    sequence.save(update_fields=["next_value"])
    return f"{series}-{year}-{value:06d}"
