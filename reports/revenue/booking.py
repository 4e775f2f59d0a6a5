"""Recognition schedules kept from billing's records: a schedule per finalized invoice line,
credits taken off them (credit notes, voids, SLA credits).

A line recognises over its own days, also before it was invoiced (in arrears) while those
months are open; what falls in a closed month is recognised in the first open one (usage not
invoiced when a month closes is that month's accrual). A credit comes off what the line
still defers on its date first; the rest reduces revenue of that month (`from_revenue`,
kept on the reversal, not in the lines). After a credit the line defers `basis_amount` over
[basis_start, end), so another credit works on what is left. Dates are local dates of
settings.TIME_ZONE, the books' zone."""

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditNote, Invoice, InvoiceLine
from catalog.money import round_money
from reports.revenue.models import RecognitionLine, RevenueReversal, RevenueSchedule
from reports.revenue.schedules import Month, recognized_to_date, schedule

ZERO = Decimal(0)


def local_day(moment: datetime | None) -> date | None:
    return timezone.localdate(moment) if moment is not None else None


def _period(line: InvoiceLine, booked_on: date) -> tuple[date, date]:
    """[start, end) in dates; a line without a (forward) period is one date: its booking."""
    start, end = local_day(line.period_start), local_day(line.period_end)
    if start is None or end is None or end <= start:
        return booked_on, booked_on
    return start, end


def _lines(
    sched: RevenueSchedule,
    months: Iterable[tuple[str, Decimal]],
    posted: dict[str, Decimal] | None = None,
) -> list[RecognitionLine]:
    """The schedule's months as rows, with what the journal holds of each (`posted`);
    months with nothing to recognise or undo are left out."""
    posted = posted or {}
    return [
        RecognitionLine(
            schedule=sched,
            invoice_id=sched.invoice_id,
            customer_id=sched.customer_id,
            currency=sched.currency,
            booking_month=sched.booking_month,
            month=Month.parse(key).first_day,
            amount=amount,
            posted=posted.get(key, ZERO),
        )
        for key, amount in months
        if amount or posted.get(key)
    ]


def _folded(months: list[tuple[str, Decimal]], first: Month) -> list[tuple[str, Decimal]]:
    """Months before `first` added into it."""
    key = str(first)
    early = sum((amount for month, amount in months if month < key), ZERO)
    rest = [(month, amount) for month, amount in months if month >= key]
    if rest and rest[0][0] == key:
        rest[0] = (key, rest[0][1] + early)
    else:
        rest.insert(0, (key, early))
    return rest


def invoices_book(
    invoices: Iterable[Invoice], *, on: dict[int, date], first_open: date | None = None
) -> list[RevenueSchedule]:
    """Schedules for the lines of these finalized invoices (prefetched `lines`), booked on
    `on[invoice.pk]`; an invoice booked already is skipped. What falls in months before
    `first_open` (the first day not in a closed month) is recognised in its month."""
    invoices = list(invoices)
    done = set(
        RevenueSchedule.objects.filter(invoice__in=invoices).values_list("invoice_id", flat=True)
    )
    schedules, months = [], []
    for invoice in invoices:
        if invoice.pk in done:
            continue
        day = on[invoice.pk]
        booked = Month.of(day)
        for line in invoice.lines.all():
            if not line.amount:
                continue
            start, end = _period(line, day)
            sched = RevenueSchedule(
                invoice_line=line,
                invoice=invoice,
                customer_id=invoice.customer_id,
                currency=invoice.currency,
                kind=line.kind,
                amount=line.amount,
                start=start,
                end=end,
                booked_on=day,
                booking_month=booked.first_day,
                basis_amount=line.amount,
                basis_start=start,
            )
            schedules.append(sched)
            months.append(schedule(line.amount, invoice.currency, start, end))
    if first_open:
        months = [_folded(m, Month.of(first_open)) for m in months]
    RevenueSchedule.objects.bulk_create(schedules, batch_size=2000)
    lines = [line for sched, m in zip(schedules, months, strict=True) for line in _lines(sched, m)]
    RecognitionLine.objects.bulk_create(lines, batch_size=5000)
    return schedules


def invoice_book(
    *, invoice: Invoice, on: date, first_open: date | None = None
) -> list[RevenueSchedule]:
    return invoices_book(
        Invoice.objects.filter(pk=invoice.pk).prefetch_related("lines"),
        on={invoice.pk: on},
        first_open=first_open,
    )


def _recognized_before(sched: RevenueSchedule, day: date) -> Decimal:
    """What the schedule (as it stands) recognises for the days before `day`
    (day >= basis_start)."""
    fixed = sched.amount - sched.deferred_reversed - sched.basis_amount
    return fixed + recognized_to_date(
        sched.basis_amount, sched.currency, sched.basis_start, sched.end, day
    )


def schedule_credit(
    *, sched: RevenueSchedule, credit: Decimal, on: date, source: str, credit_note=None
) -> RevenueReversal | None:
    """Take `credit` (the line's sign, net of tax) off `sched` on `on`; None if `source` was
    taken already. Rewrites the schedule's lines from `on`'s month."""
    if RevenueReversal.objects.filter(schedule=sched, source=source).exists():
        return None
    on = max(on, sched.basis_start, sched.booked_on)
    recognized = _recognized_before(sched, on)
    deferred = sched.amount - sched.deferred_reversed - recognized
    if credit * deferred <= 0:
        from_deferred = round_money(ZERO, sched.currency)
    else:
        from_deferred = credit if abs(credit) <= abs(deferred) else deferred
    from_revenue = credit - from_deferred
    month = Month.of(on)
    kept = RecognitionLine.objects.filter(schedule=sched, month__lt=month.first_day)
    before = kept.aggregate(total=Sum("amount"))["total"] or ZERO
    rest = deferred - from_deferred
    piece = schedule(rest, sched.currency, on, max(on, sched.end)) if rest else []
    months = dict(piece)
    key = str(month)
    months[key] = months.get(key, round_money(ZERO, sched.currency)) + recognized - before
    rewritten = RecognitionLine.objects.filter(schedule=sched, month__gte=month.first_day)
    posted = {f"{m:%Y-%m}": p for m, p in rewritten.values_list("month", "posted") if p}
    rewritten.delete()
    for key in posted:
        months.setdefault(key, round_money(ZERO, sched.currency))  # posted: kept to undo
    RecognitionLine.objects.bulk_create(_lines(sched, sorted(months.items()), posted))
    sched.reversed_amount += credit
    sched.deferred_reversed += from_deferred
    sched.basis_amount, sched.basis_start = rest, min(on, sched.end)
    sched.save(
        update_fields=["reversed_amount", "deferred_reversed", "basis_amount", "basis_start"]
    )
    return RevenueReversal.objects.create(
        schedule=sched,
        customer_id=sched.customer_id,
        currency=sched.currency,
        credit_note=credit_note,
        source=source,
        on=on,
        month=month.first_day,
        amount=credit,
        from_deferred=from_deferred,
        from_revenue=from_revenue,
    )


def credit_note_book(*, note: CreditNote, on: date) -> tuple[Decimal, Decimal]:
    """The note's lines taken off their invoice lines' schedules: (from_deferred,
    from_revenue) in all; a line without an invoice line (or whose line has no schedule)
    comes off revenue."""
    from_deferred = from_revenue = ZERO
    schedules = RevenueSchedule.objects.in_bulk(
        [line.invoice_line_id for line in note.lines.all() if line.invoice_line_id],
        field_name="invoice_line_id",
    )
    for line in note.lines.all():
        net = line.amount - line.tax_amount
        sched = schedules.get(line.invoice_line_id)
        if sched is None:
            from_revenue += net
            continue
        reversal = schedule_credit(
            sched=sched, credit=net, on=on, source=f"credit_note:{note.pk}", credit_note=note
        )
        if reversal is not None:
            from_deferred += reversal.from_deferred
            from_revenue += reversal.from_revenue
    return from_deferred, from_revenue


def invoice_void_book(*, invoice: Invoice, on: date) -> tuple[Decimal, Decimal]:
    """A voided invoice: what its lines still hold comes off them."""
    from_deferred = from_revenue = ZERO
    for sched in RevenueSchedule.objects.filter(invoice=invoice):
        left = sched.amount - sched.reversed_amount
        if not left:
            continue
        reversal = schedule_credit(sched=sched, credit=left, on=on, source=f"void:{invoice.pk}")
        if reversal is not None:
            from_deferred += reversal.from_deferred
            from_revenue += reversal.from_revenue
    return from_deferred, from_revenue


def subscription_credit_book(
    *, subscription_id: int, amount: Decimal, on: date, source: str
) -> tuple[Decimal, Decimal]:
    """A credit for a subscription (an SLA credit): off what its latest lines still defer,
    newest first; the rest off revenue."""
    from_deferred, left = ZERO, amount
    schedules = RevenueSchedule.objects.filter(
        invoice_line__subscription_id=subscription_id, amount__gt=0, end__gt=on
    ).order_by("-booked_on", "-pk")
    for sched in schedules:
        if left <= 0:
            break
        day = max(on, sched.basis_start, sched.booked_on)
        deferred = sched.amount - sched.deferred_reversed - _recognized_before(sched, day)
        if deferred <= 0:
            continue
        reversal = schedule_credit(sched=sched, credit=min(left, deferred), on=on, source=source)
        if reversal is not None:
            from_deferred += reversal.from_deferred
            left -= reversal.amount
    return from_deferred, left
