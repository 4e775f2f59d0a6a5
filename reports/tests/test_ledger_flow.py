"""The reports' consumer, end to end on the database: billing's invoices, credit notes and
payments become recognition schedules and balanced journal entries; closing a month posts
its recognition and locks it; a rebuild gives the same tables.

The issue's worked example: 1,200.00 for 2026-01-15 → 2027-01-15 recognises 55.89 in
January (17 of 365 days) and 92.06 in February (cumulative 147.95 at 45 days), leaving
1,052.05 deferred at the end of February."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from billing.invoicing.services.bill_runs import bill_run_execute
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.credits import credit_note_issue
from billing.invoicing.services.invoices import (
    invoice_create,
    invoice_finalize,
    invoice_mark_paid,
    invoice_void,
)
from billing.invoicing.services.sla import sla_credit_grant
from billing.invoicing.services.subscription_billing import subscription_cancel
from billing.models import Invoice, InvoiceLine, LineKind
from billing.payments.services.allocations import payment_record_received
from billing.tests import factories
from billing.usage.services import usage_events_ingest
from catalog.services import service_level_create
from catalog.tests import factories as catalog
from reports import consumer
from reports.consumer import reports_events_consume_all
from reports.ledger.closing import CloseError, month_close, recognition_post
from reports.ledger.posting import invoice_posting
from reports.ledger.selectors import trial_balance
from reports.models import (
    EventCursor,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    MonthClose,
    MrrSegment,
    RecognitionLine,
    RevenueReversal,
    RevenueSchedule,
)
from reports.rebuild import reports_rebuild
from reports.revenue.booking import invoice_book, schedule_credit

pytestmark = pytest.mark.django_db
D = Decimal


def at(year, month, day, hour=10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def invoice(customer, amount, start=None, end=None, *, on, kind=LineKind.SUBSCRIPTION):
    line = InvoiceLine(
        customer=customer,
        currency=customer.currency,
        kind=kind,
        description="Pro, yearly",
        quantity=D(1),
        unit_amount=D(amount),
        amount=D(amount),
        period_start=start and at(*start, hour=0),
        period_end=end and at(*end, hour=0),
    )
    with transaction.atomic():
        draft = invoice_create(customer=customer, currency=customer.currency, lines=[line], at=on)
        return invoice_finalize(invoice=draft, at=on)


def close(month: date, on: datetime):
    return month_close(month=month, at=on, consume=reports_events_consume_all)


def months(invoice) -> dict[str, Decimal]:
    rows = RecognitionLine.objects.filter(invoice=invoice).values("month")
    rows = rows.annotate(total=Sum("amount")).order_by("month")
    return {f"{row['month']:%Y-%m}": row["total"] for row in rows}


def balances(currency="USD", through=None) -> dict[str, Decimal]:
    return {
        row["role"]: row["balance"]
        for row in trial_balance(currency=currency, through=through)
        if row["balance"]
    }


def lines_of(entry: JournalEntry) -> set[tuple[str, Decimal, Decimal]]:
    return {(line.role, line.debit, line.credit) for line in entry.lines.all()}


@pytest.fixture
def acme():
    return factories.customer("acme", currency="USD")


@pytest.fixture(autouse=True)
def every_entry_balances():
    yield
    for entry in JournalEntry.objects.prefetch_related("lines"):
        debit = sum(line.debit for line in entry.lines.all())
        assert debit == sum(line.credit for line in entry.lines.all()), entry
        assert debit > 0, entry


def test_the_worked_example_books_defers_and_recognises_by_month(acme):
    yearly = invoice(acme, "1200.00", (2026, 1, 15), (2027, 1, 15), on=at(2026, 1, 15))
    reports_events_consume_all(at=at(2026, 1, 15, 11))

    schedule = months(yearly)
    assert schedule["2026-01"] == D("55.89")
    assert schedule["2026-02"] == D("92.06")
    assert sum(schedule.values()) == D("1200.00")
    assert len(schedule) == 13
    booked = JournalEntry.objects.get(kind="invoice")
    assert booked.date == date(2026, 1, 15)
    assert booked.source == yearly.number
    assert lines_of(booked) == {
        ("accounts_receivable", D("1200.00"), D(0)),
        ("deferred_revenue", D(0), D("1200.00")),
    }

    close(date(2026, 1, 1), at(2026, 2, 2))
    close(date(2026, 2, 1), at(2026, 3, 3))
    recognised = JournalEntry.objects.filter(kind="recognition").order_by("date")
    assert [(e.date, lines_of(e)) for e in recognised] == [
        (date(2026, 1, 31), {("deferred_revenue", D("55.89"), 0), ("revenue", 0, D("55.89"))}),
        (date(2026, 2, 28), {("deferred_revenue", D("92.06"), 0), ("revenue", 0, D("92.06"))}),
    ]
    assert balances() == {
        "accounts_receivable": D("1200.00"),
        "deferred_revenue": D("-1052.05"),
        "revenue": D("-147.95"),
    }


def test_a_leap_year_spreads_over_366_days(acme):
    leap = invoice(acme, "366.00", (2028, 1, 1), (2029, 1, 1), on=at(2028, 1, 1))
    reports_events_consume_all(at=at(2028, 1, 1, 11))
    schedule = months(leap)
    assert schedule["2028-01"] == D("31.00")
    assert schedule["2028-02"] == D("29.00")
    assert sum(schedule.values()) == D("366.00")


def test_a_credit_note_reverses_what_is_still_deferred_first(acme):
    yearly = invoice(acme, "1200.00", (2026, 1, 15), (2027, 1, 15), on=at(2026, 1, 15))
    close(date(2026, 1, 1), at(2026, 2, 2))
    line = yearly.lines.get()
    note = credit_note_issue(
        invoice=yearly,
        at=at(2026, 2, 15),
        reason="other",
        lines=[{"invoice_line": line, "amount": D("600.00")}],
    )
    reports_events_consume_all(at=at(2026, 2, 15, 11))

    # 31 days (15 Jan - 14 Feb) recognised: 101.92; 1,098.08 deferred, 600.00 comes off it.
    reversal = RevenueReversal.objects.get()
    assert (reversal.from_deferred, reversal.from_revenue) == (D("600.00"), D("0.00"))
    schedule = months(yearly)
    assert sum(schedule.values()) == D("600.00")
    assert schedule["2026-01"] == D("55.89")  # closed: unchanged
    entry = JournalEntry.objects.get(kind="credit_note")
    assert entry.source == note.number
    assert entry.date == date(2026, 2, 15)
    assert lines_of(entry) == {
        ("deferred_revenue", D("600.00"), 0),
        ("accounts_receivable", 0, D("600.00")),
    }
    # Everything recognised in the end: deferred revenue back to zero.
    close(date(2027, 1, 1), at(2027, 2, 1))
    assert balances() == {"accounts_receivable": D("600.00"), "revenue": D("-600.00")}


def test_a_credit_beyond_what_is_deferred_comes_off_revenue(acme):
    fee = invoice(acme, "100.00", on=at(2026, 1, 10), kind=LineKind.ONE_TIME)
    close(date(2026, 1, 1), at(2026, 2, 2))
    credit_note_issue(
        invoice=fee,
        at=at(2026, 2, 5),
        reason="other",
        lines=[{"invoice_line": fee.lines.get(), "amount": D("40.00")}],
    )
    reports_events_consume_all(at=at(2026, 2, 5, 11))
    reversal = RevenueReversal.objects.get()
    assert (reversal.from_deferred, reversal.from_revenue) == (D("0.00"), D("40.00"))
    assert lines_of(JournalEntry.objects.get(kind="credit_note")) == {
        ("revenue", D("40.00"), 0),
        ("accounts_receivable", 0, D("40.00")),
    }
    assert months(fee) == {"2026-01": D("100.00")}


def test_tax_is_never_revenue():
    taxed = Invoice(number="INV-9", currency="EUR", total=D("123.00"), tax=D("23.00"))
    entry, key, _ = invoice_posting(taxed, date(2026, 1, 5))
    assert key == f"invoice:{taxed.pk}"
    assert {(line.account, line.debit, line.credit) for line in entry.lines} == {
        ("accounts_receivable", D("123.00"), D("0.00")),
        ("deferred_revenue", D("0.00"), D("100.00")),
        ("tax_payable", D("0.00"), D("23.00")),
    }


def test_payments_refund_nothing_twice_and_overpayments_go_to_the_balance(acme):
    fee = invoice(acme, "100.00", on=at(2026, 3, 1), kind=LineKind.ONE_TIME)
    payment_record_received(
        customer=acme, amount=D("150.00"), currency="USD", at=at(2026, 3, 2), invoices=[fee]
    )
    reports_events_consume_all(at=at(2026, 3, 2, 11))
    entry = JournalEntry.objects.get(kind="payment")
    assert lines_of(entry) == {
        ("cash", D("150.00"), 0),
        ("accounts_receivable", 0, D("100.00")),
        ("customer_balance", 0, D("50.00")),
    }
    assert balances() == {
        "cash": D("150.00"),
        "customer_balance": D("-50.00"),
        "deferred_revenue": D("-100.00"),
    }
    # Read again from the start: every posting has its key, nothing is posted twice.
    count = JournalEntry.objects.count()
    EventCursor.objects.filter(consumer="reports").update(last_event_id=0, pending_ids=[])
    reports_events_consume_all(at=at(2026, 3, 3))
    assert JournalEntry.objects.count() == count
    assert RevenueSchedule.objects.count() == 1


def test_an_invoice_marked_paid_and_a_void(acme):
    paid = invoice(acme, "80.00", on=at(2026, 3, 1), kind=LineKind.ONE_TIME)
    invoice_mark_paid(invoice=paid, at=at(2026, 3, 4))
    voided = invoice(acme, "30.00", on=at(2026, 3, 1), kind=LineKind.ONE_TIME)
    invoice_void(invoice=voided, at=at(2026, 3, 5))
    line = InvoiceLine(
        customer=acme, currency="USD", kind=LineKind.ONE_TIME, description="x", amount=D(9)
    )
    draft = invoice_create(customer=acme, currency="USD", lines=[line], at=at(2026, 3, 5))
    invoice_void(invoice=draft, at=at(2026, 3, 5))  # never finalized: nothing to post
    reports_events_consume_all(at=at(2026, 3, 5, 11))
    assert JournalEntry.objects.filter(kind="invoice").count() == 3
    marked = JournalEntry.objects.get(source_key=f"marked_paid:{paid.pk}")
    assert lines_of(marked) == {("cash", D("80.00"), 0), ("accounts_receivable", 0, D("80.00"))}
    # A one-time fee is recognised on its day: voided later, it comes off revenue (the
    # month's recognition, posted at the close, moves it out of deferred revenue).
    reversal = RevenueReversal.objects.get()
    assert (reversal.from_deferred, reversal.from_revenue) == (D("0.00"), D("30.00"))
    close(date(2026, 3, 1), at(2026, 4, 1))
    assert balances() == {"cash": D("80.00"), "revenue": D("-80.00")}


def test_a_closed_month_is_locked_and_later_corrections_post_in_the_next(acme):
    close(date(2026, 1, 1), at(2026, 2, 2))
    late = invoice(acme, "310.00", (2026, 1, 1), (2026, 2, 1), on=at(2026, 1, 20))
    reports_events_consume_all(at=at(2026, 2, 3))
    assert JournalEntry.objects.get(kind="invoice").date == date(2026, 2, 1)
    assert months(late) == {"2026-02": D("310.00")}  # January's share catches up in February
    with pytest.raises(CloseError, match="closed already"):
        close(date(2026, 1, 1), at(2026, 2, 4))
    with pytest.raises(CloseError, match="not over"):
        close(date(2026, 2, 1), at(2026, 2, 27))
    close(date(2026, 2, 1), at(2026, 3, 1))
    entry = JournalEntry.objects.get(kind="recognition")
    assert entry.date == date(2026, 2, 28)
    assert lines_of(entry) == {
        ("deferred_revenue", D("310.00"), 0),
        ("revenue", 0, D("310.00")),
    }


def test_account_codes_set_in_the_admin_are_posted(acme):
    LedgerAccount.objects.update_or_create(role="revenue", defaults={"code": "4000"})
    invoice(acme, "10.00", on=at(2026, 1, 3), kind=LineKind.ONE_TIME)
    close(date(2026, 1, 1), at(2026, 2, 1))
    entry = JournalEntry.objects.get(kind="recognition")
    assert {line.account for line in entry.lines.all()} == {"deferred_revenue", "4000"}


def test_one_failing_record_does_not_stop_the_others(acme, monkeypatch):
    first = invoice(acme, "10.00", on=at(2026, 1, 3), kind=LineKind.ONE_TIME)
    credit_note_issue(invoice=first, at=at(2026, 1, 4), reason="other")
    invoice(acme, "20.00", on=at(2026, 1, 5), kind=LineKind.ONE_TIME)

    def broken(*args):
        raise RuntimeError("the posting broke")

    monkeypatch.setattr(consumer, "credit_note_posting", broken)
    reports_events_consume_all(at=at(2026, 1, 5, 11))
    assert JournalEntry.objects.filter(kind="invoice").count() == 2
    assert not JournalEntry.objects.filter(kind="credit_note").exists()
    failed = EventCursor.objects.get(consumer="reports").failed
    assert len(failed) == 1
    assert "the posting broke" in failed[0]["error"]
    assert not RevenueReversal.objects.exists()  # its booking rolled back with it


def snapshot() -> dict:
    entries = sorted(
        (
            e.date,
            e.kind,
            e.source,
            e.source_key,
            e.customer_id,
            e.currency,
            e.memo,
            tuple(sorted((ln.role, ln.account, ln.debit, ln.credit) for ln in e.lines.all())),
        )
        for e in JournalEntry.objects.prefetch_related("lines")
    )
    lines = sorted(
        RecognitionLine.objects.values_list(
            "schedule__invoice_line_id", "month", "amount", "posted"
        )
    )
    reversals = sorted(
        RevenueReversal.objects.values_list(
            "schedule__invoice_line_id", "source", "on", "from_deferred", "from_revenue"
        )
    )
    segments = sorted(
        MrrSegment.objects.values_list("subscription_id", "start", "end", "mrr", "churn")
    )
    return {"entries": entries, "lines": lines, "reversals": reversals, "mrr": segments}


def test_a_rebuild_from_scratch_gives_the_same_tables(acme):
    yearly = invoice(acme, "1200.00", (2026, 1, 15), (2027, 1, 15), on=at(2026, 1, 15))
    fee = invoice(acme, "99.00", on=at(2026, 1, 20), kind=LineKind.ONE_TIME)
    pro = factories.plan("pro", amount="30.00")
    sub = factories.subscription(customer=acme, plan=pro, at=at(2026, 1, 5, 0))
    payment_record_received(
        customer=acme, amount=D("99.00"), currency="USD", at=at(2026, 1, 21), invoices=[fee]
    )
    close(date(2026, 1, 1), at(2026, 2, 2))
    credit_note_issue(
        invoice=yearly,
        at=at(2026, 2, 10),
        reason="other",
        lines=[{"invoice_line": yearly.lines.get(), "amount": D("100.00")}],
    )
    invoice(acme, "50.00", (2026, 2, 1), (2026, 3, 1), on=at(2026, 2, 1))
    subscription_cancel(subscription=sub, at=at(2026, 2, 12), when="immediately")
    close(date(2026, 2, 1), at(2026, 3, 2))
    reports_events_consume_all(at=at(2026, 3, 2, 11))
    live = snapshot()
    # 4 invoices, a payment, a credit note, 3 recognitions in each month; MRR 30.00 from
    # 5 January to 12 February
    assert len(live["entries"]) == 12
    assert [row[3] for row in live["mrr"]] == [D("30")]
    assert MonthClose.objects.count() == 2

    reports_rebuild(at=at(2026, 3, 3))
    assert snapshot() == live


@pytest.mark.django_db(transaction=True)
def test_two_workers_reading_at_once_post_everything_once(postgres_only):
    customers = [factories.customer(f"c{n}", currency="USD") for n in range(6)]
    for n, customer in enumerate(customers):
        invoice(customer, f"{n + 1}0.00", (2026, 1, 1), (2026, 2, 1), on=at(2026, 1, 1))
        invoice(customer, "5.00", on=at(2026, 1, 2), kind=LineKind.ONE_TIME)
    errors, barrier = [], threading.Barrier(2)

    def read():
        try:
            barrier.wait()
            while consumer.reports_events_consume(at=at(2026, 1, 3), limit=3):
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert JournalEntry.objects.filter(kind="invoice").count() == 12
    assert RevenueSchedule.objects.count() == 12
    assert EventCursor.objects.get(consumer="reports").failed == []


def revenue_of(month: date) -> Decimal:
    """Revenue posted in a month (credits − debits of the revenue account)."""
    lines = JournalLine.objects.filter(
        role="revenue", entry__date__year=month.year, entry__date__month=month.month
    ).aggregate(debit=Sum("debit"), credit=Sum("credit"))
    return (lines["credit"] or 0) - (lines["debit"] or 0)


def bill_and_finalize(when: datetime):
    bill_run_execute(as_of=when, at=when)
    for draft in Invoice.objects.filter(status="draft"):
        invoice_finalize(invoice=draft, at=when)


def test_an_upgrade_is_recognised_over_the_days_left_and_a_cancellation_gives_back_the_rest(
    acme,
):
    basic = factories.plan("basic", amount="31.00")
    pro = factories.plan("pro", amount="62.00")
    sub = factories.subscription(customer=acme, plan=basic, at=at(2026, 1, 1, 0))
    # Upgraded on 16 January: 16 days of 31 left, -16.00 for basic and +32.00 for pro,
    # invoiced with February's 62.00 on 1 February, while January is still open.
    subscription_change(subscription=sub, at=at(2026, 1, 16, 0), plan=pro)
    bill_and_finalize(at(2026, 2, 1, 1))
    close(date(2026, 1, 1), at(2026, 2, 2))
    assert revenue_of(date(2026, 1, 1)) == D("47.00")  # 31.00 - 16.00 + 32.00

    # Cancelled on 11 February: 18 days of 28 unused, 39.86 credited on the next invoice
    # (a negative one: the credit goes to the customer's balance).
    sub.refresh_from_db()
    subscription_cancel(subscription=sub, at=at(2026, 2, 11, 0), when="immediately")
    bill_and_finalize(at(2026, 2, 12))
    close(date(2026, 2, 1), at(2026, 3, 2))
    assert revenue_of(date(2026, 2, 1)) == D("22.14")  # 62.00 - 39.86: 10 days used
    # Billed 31.00 + 78.00 - 39.86 = 69.14, all recognised: nothing deferred is left.
    assert balances(through=date(2026, 2, 28)) == {
        "accounts_receivable": D("109.00"),  # both invoices unpaid; the credit is a balance
        "customer_balance": D("-39.86"),
        "revenue": D("-69.14"),
    }


TIERS = {
    "tiers": [
        {"up_to": 10, "unit_amount": "1.00", "flat_amount": "0"},
        {"up_to": None, "unit_amount": "0.50", "flat_amount": "0"},
    ]
}


def test_usage_not_invoiced_at_the_close_is_accrued_and_reversed(acme, settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0
    calls = catalog.metric("calls", "count")
    plan = factories.plan(
        "metered",
        amount="0.00",
        charges=[{"metric": calls, "model": "graduated", "properties": TIERS}],
    )
    sub = factories.subscription(customer=acme, plan=plan, at=at(2026, 1, 15, 0))
    events = [
        {"transaction_id": f"c{n}", "subscription": str(sub.pk), "code": "calls"} for n in range(14)
    ]
    for event in events:
        event["timestamp"] = at(2026, 1, 20).isoformat()
    usage_events_ingest(events=events, at=at(2026, 1, 20))
    # Closed on 2 February: 14 calls = 12.00 so far in the period 15 January - 15 February,
    # 18 days of it gone by, 17 of them in January: 11.33 accrued.
    close(date(2026, 1, 1), at(2026, 2, 2, 0))
    accrued = JournalEntry.objects.filter(kind="usage_accrual").order_by("date")
    assert [(e.date, lines_of(e)) for e in accrued] == [
        (date(2026, 1, 31), {("unbilled_receivable", D("11.33"), 0), ("revenue", 0, D("11.33"))}),
        (date(2026, 2, 1), {("revenue", D("11.33"), 0), ("unbilled_receivable", 0, D("11.33"))}),
    ]
    assert revenue_of(date(2026, 1, 1)) == D("11.33")
    # Invoiced on 15 February with January closed: January's share comes in February.
    bill_and_finalize(at(2026, 2, 15, 1))
    close(date(2026, 2, 1), at(2026, 3, 1, 1))
    assert revenue_of(date(2026, 2, 1)) == D("0.67")  # 12.00 - 11.33
    assert balances(through=date(2026, 2, 28)).get("unbilled_receivable") is None


def test_an_sla_credit_takes_what_the_subscription_still_defers_first(acme):
    gold = service_level_create(
        code="gold",
        name="Gold",
        uptime_target=D("99.95"),
        credit_tiers=[{"below": "99", "credit_percent": "25"}],
    )
    plan = factories.plan("sla", amount="31.00")
    plan.service_level = gold
    plan.save(update_fields=["service_level"])
    sub = factories.subscription(customer=acme, plan=plan, at=at(2026, 1, 1, 0))
    bill_and_finalize(at(2026, 2, 1, 1))
    # January's uptime was 98.9%: 25% of 31.00 credited on 8 February, when February's
    # 31.00 still defers 21 of its 28 days (23.25): the credit comes off it.
    sla_credit_grant(
        subscription=sub, period_at=at(2026, 1, 10), uptime=D("98.9"), at=at(2026, 2, 8)
    )
    reports_events_consume_all(at=at(2026, 2, 8, 11))
    entry = JournalEntry.objects.get(kind="balance")
    assert lines_of(entry) == {
        ("deferred_revenue", D("7.75"), 0),
        ("customer_balance", 0, D("7.75")),
    }
    close(date(2026, 2, 1), at(2026, 3, 1, 1))
    assert revenue_of(date(2026, 2, 1)) == D("23.25")
    assert balances(through=date(2026, 2, 28)) == {
        "accounts_receivable": D("62.00"),
        "customer_balance": D("-7.75"),
        "revenue": D("-54.25"),
    }


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amount=st.decimals("0.01", "5000", places=2),
    days=st.integers(0, 800),
    credits=st.lists(st.tuples(st.integers(0, 900), st.integers(1, 100)), max_size=4),
)
def test_any_credits_keep_the_schedule_whole(acme, amount, days, credits):
    """However a line is credited (when, how much), its months sum to what it still
    recognises from deferred revenue, and each credit splits into deferred + revenue."""
    start = date(2027, 3, 10)
    end = start + timedelta(days=days)
    kind = LineKind.SUBSCRIPTION if days else LineKind.ONE_TIME
    period = ((2027, 3, 10), end.timetuple()[:3]) if days else (None, None)
    billed = invoice(acme, str(amount), *period, on=at(2027, 3, 10), kind=kind)
    (booked,) = invoice_book(invoice=billed, on=start)
    left, taken = amount, D(0)
    for n, (offset, percent) in enumerate(sorted(credits)):
        credit = min(left, (amount * percent / 100).quantize(D("0.01")))
        if credit <= 0:
            continue
        reversal = schedule_credit(
            sched=RevenueSchedule.objects.get(pk=booked.pk),
            credit=credit,
            on=start + timedelta(days=offset),
            source=f"test:{n}",
        )
        assert reversal.from_deferred + reversal.from_revenue == credit
        assert reversal.from_deferred >= 0
        assert reversal.from_revenue >= 0
        left -= credit
        taken += reversal.from_deferred
    lines = RecognitionLine.objects.filter(schedule=booked)
    assert (lines.aggregate(total=Sum("amount"))["total"] or 0) == amount - taken


def test_recognition_posted_on_demand_is_corrected_when_the_month_changes(acme):
    yearly = invoice(acme, "365.00", (2026, 2, 1), (2027, 2, 1), on=at(2026, 2, 1))
    reports_events_consume_all(at=at(2026, 2, 1, 11))
    assert recognition_post(through=date(2026, 2, 1), at=at(2026, 2, 10)) == 1  # 28.00
    assert recognition_post(through=date(2026, 2, 1), at=at(2026, 2, 11)) == 0  # nothing new
    # Half credited on 15 February: 14.00 recognised by then, 182.50 off the 351.00 still
    # deferred, 168.50 left over 351 days, 6.72 of them in February: February is 20.72.
    credit_note_issue(
        invoice=yearly,
        at=at(2026, 2, 15),
        reason="other",
        lines=[{"invoice_line": yearly.lines.get(), "amount": D("182.50")}],
    )
    close(date(2026, 2, 1), at(2026, 3, 1, 1))
    recognitions = JournalEntry.objects.filter(kind="recognition").order_by("pk")
    key = f"recognition:{yearly.pk}:2026-02"
    assert [(e.source_key, lines_of(e)) for e in recognitions] == [
        (key, {("deferred_revenue", D("28.00"), 0), ("revenue", 0, D("28.00"))}),
        (f"{key}:1", {("revenue", D("7.28"), 0), ("deferred_revenue", 0, D("7.28"))}),
    ]
    assert revenue_of(date(2026, 2, 1)) == D("20.72")


def test_an_mrr_history_that_fails_is_recorded_and_the_books_go_on(acme, monkeypatch):
    pro = factories.plan("pro", amount="30.00")
    factories.subscription(customer=acme, plan=pro, at=at(2026, 1, 5, 0))

    def broken(**kwargs):
        raise RuntimeError("the history broke")

    monkeypatch.setattr(consumer, "subscriptions_mrr_refresh", broken)
    reports_events_consume_all(at=at(2026, 1, 5, 11))
    assert JournalEntry.objects.filter(kind="invoice").count() == 1
    failed = EventCursor.objects.get(consumer="reports").failed
    assert [item["error"] for item in failed] == ["the history broke"]
