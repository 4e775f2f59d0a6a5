"""What a credit note would be, before staff confirm it: `credit_note_issue` run in a
transaction that is rolled back, so the preview is the service's own answer (its checks, its
proportional tax, its split into amount-due reduction, refund and balance) and nothing is
kept — no number taken, no event, no task queued (on-commit callbacks of a rolled-back block
are dropped)."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from billing.events.services import Actor
from billing.invoicing.models.credits import CreditNote, CreditNoteLine
from billing.invoicing.models.invoices import Invoice
from billing.invoicing.services.credits import credit_note_issue

ZERO = Decimal(0)


@dataclass
class CreditNotePreview:
    note: CreditNote
    lines: list[CreditNoteLine] = field(default_factory=list)


class _RolledBack(Exception):  # noqa: N818 - not an error: carries the preview out
    def __init__(self, preview: CreditNotePreview):
        super().__init__("preview")
        self.preview = preview


def credit_note_preview(
    *,
    invoice: Invoice,
    at: datetime,
    reason: str,
    lines: list[dict] | None = None,
    refund: Decimal = ZERO,
    memo: str = "",
    actor: Actor = None,
) -> CreditNotePreview:
    """The credit note `credit_note_issue` would issue with these arguments (unsaved); raises
    what it would raise."""
    try:
        with transaction.atomic():
            note = credit_note_issue(
                invoice=invoice,
                at=at,
                reason=reason,
                lines=lines,
                refund=refund,
                memo=memo,
                actor=actor,
            )
            note_lines = list(note.lines.select_related("invoice_line").order_by("position"))
            for line in note_lines:
                line.net = line.amount - line.tax_amount  # shown beside its tax
            raise _RolledBack(CreditNotePreview(note=note, lines=note_lines))
    except _RolledBack as done:
        preview = done.preview
    preview.note.pk = None
    preview.note.number = "(on confirmation)"
    return preview
