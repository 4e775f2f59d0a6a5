"""CSV exports of journal entries: our journal, Xero manual journals, QuickBooks Online."""

import csv
import dataclasses
import datetime
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.ledger.entries import (
    Entry,
    Line,
    credit_note_entry,
    invoice_entry,
    payment_entry,
    recognition_entry,
)
from reports.ledger.exports import (
    JOURNAL_COLUMNS,
    QUICKBOOKS_COLUMNS,
    XERO_COLUMNS,
    XERO_MAX_LINES,
    journal_csv,
    quickbooks_journal_csv,
    xero_batches,
    xero_manual_journal_csv,
)
from reports.ledger.tests import built_entries

FAST = settings(max_examples=150, deadline=None, database=None)
D = Decimal
JAN_15 = datetime.date(2026, 1, 15)
USD = {"date": JAN_15, "source": "INV-0001", "currency": "USD"}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def worked_entries() -> list[Entry]:
    invoice = invoice_entry(**USD, deferred=D("1200.00"), tax=D("240.00"), memo="Pro, yearly")
    payment = payment_entry(**USD, amount=D("1440.00"))
    recognition = recognition_entry(
        date=datetime.date(2026, 1, 31), source="INV-0001", currency="USD", amount=D("55.89")
    )
    return [
        dataclasses.replace(invoice, id=101),
        dataclasses.replace(payment, id=102),
        dataclasses.replace(recognition, id=103),
    ]


def test_journal_csv_writes_one_row_per_line():
    text = journal_csv(worked_entries())
    assert text.splitlines()[0] == ",".join(JOURNAL_COLUMNS)
    assert text.endswith("\r\n")
    assert rows(text)[:3] == [
        {
            "entry_id": "101",
            "date": "2026-01-15",
            "kind": "invoice",
            "source": "INV-0001",
            "currency": "USD",
            "account": account,
            "debit": debit,
            "credit": credit,
            "memo": "Pro, yearly",
        }
        for account, debit, credit in [
            ("accounts_receivable", "1440.00", "0.00"),
            ("deferred_revenue", "0.00", "1200.00"),
            ("tax_payable", "0.00", "240.00"),
        ]
    ]
    assert [(row["entry_id"], row["kind"]) for row in rows(text)[3:]] == [
        ("102", "payment"),
        ("102", "payment"),
        ("103", "recognition"),
        ("103", "recognition"),
    ]


def test_entries_without_an_id_are_numbered_by_position():
    entries = [dataclasses.replace(entry, id=None) for entry in worked_entries()]
    assert [row["entry_id"] for row in rows(journal_csv(entries))] == list("1112233")


def test_exports_refuse_an_entry_that_does_not_balance():
    bad = Entry(
        JAN_15, "payment", "P", "USD", (Line("cash", D("1")), Line("revenue", D("0"), D("2")))
    )
    for export in (journal_csv, quickbooks_journal_csv):
        with pytest.raises(ValueError, match="does not balance"):
            export([bad])
    with pytest.raises(ValueError, match="does not balance"):
        xero_manual_journal_csv([bad], tax_rate="Tax Exempt")


def test_xero_layout():
    text = xero_manual_journal_csv(
        worked_entries(),
        tax_rate="Tax Exempt",
        accounts={"accounts_receivable": "610", "cash": "090"},
    )
    assert text.splitlines()[0] == ",".join(XERO_COLUMNS)
    assert [list(row.values())[:6] for row in rows(text)] == [
        ["101 invoice INV-0001", "15/01/2026", "Pro, yearly", "610", "Tax Exempt", "1440.00"],
        [
            "101 invoice INV-0001",
            "15/01/2026",
            "Pro, yearly",
            "deferred_revenue",
            "Tax Exempt",
            "-1200.00",
        ],
        [
            "101 invoice INV-0001",
            "15/01/2026",
            "Pro, yearly",
            "tax_payable",
            "Tax Exempt",
            "-240.00",
        ],
        ["102 payment INV-0001", "15/01/2026", "", "090", "Tax Exempt", "1440.00"],
        ["102 payment INV-0001", "15/01/2026", "", "610", "Tax Exempt", "-1440.00"],
        [
            "103 recognition INV-0001",
            "31/01/2026",
            "Revenue recognised for 2026-01",
            "deferred_revenue",
            "Tax Exempt",
            "55.89",
        ],
        [
            "103 recognition INV-0001",
            "31/01/2026",
            "Revenue recognised for 2026-01",
            "revenue",
            "Tax Exempt",
            "-55.89",
        ],
    ]
    assert {row["TrackingName1"] + row["TrackingOption2"] for row in rows(text)} == {""}


def test_xero_keeps_text_on_one_line_and_needs_a_tax_rate():
    entry = dataclasses.replace(worked_entries()[0], memo="Pro\r\nyearly,  seats")
    assert (
        rows(xero_manual_journal_csv([entry], tax_rate="No GST"))[0]["Description"]
        == "Pro yearly, seats"
    )
    with pytest.raises(ValueError, match="TaxRate"):
        xero_manual_journal_csv([entry], tax_rate=" ")


def test_xero_refuses_two_currencies_and_too_many_lines():
    euros = payment_entry(date=JAN_15, source="P", currency="EUR", amount=D("1.00"))
    with pytest.raises(ValueError, match="one currency"):
        xero_manual_journal_csv([worked_entries()[1], euros], tax_rate="Tax Exempt")
    payments = [payment_entry(**USD, amount=D("1.00")) for _ in range(XERO_MAX_LINES // 2 + 1)]
    with pytest.raises(ValueError, match="xero_batches"):
        xero_manual_journal_csv(payments, tax_rate="Tax Exempt")
    batches = xero_batches(payments)
    assert [len(batch) for batch in batches] == [150, 1]
    assert all(xero_manual_journal_csv(batch, tax_rate="Tax Exempt") for batch in batches)


def test_xero_batches_do_not_split_an_entry():
    invoice, payment, recognition = worked_entries()  # 3, 2 and 2 lines
    assert xero_batches([invoice, payment, recognition], max_lines=4) == [
        [invoice],
        [payment, recognition],
    ]
    assert xero_batches([]) == []
    with pytest.raises(ValueError, match="does not fit"):
        xero_batches([invoice], max_lines=2)


def test_quickbooks_layout():
    entries = [
        *worked_entries(),
        credit_note_entry(
            date=datetime.date(2026, 2, 3),
            source="CN-1",
            currency="USD",
            net=D("300.00"),
            still_deferred=D("240.00"),
        ),
    ]
    text = quickbooks_journal_csv(
        entries,
        accounts={
            "accounts_receivable": "Accounts Receivable (A/R)",
            "revenue": "Sales:Subscriptions",
        },
        names={"INV-0001": "Acme, Inc.", "CN-1": "Acme, Inc."},
    )
    assert text.splitlines()[0] == ",".join(QUICKBOOKS_COLUMNS)
    assert [list(row.values()) for row in rows(text)] == [
        [
            "101",
            "01/15/2026",
            "USD",
            "Accounts Receivable (A/R)",
            "1440.00",
            "",
            "Pro, yearly",
            "Acme, Inc.",
        ],
        [
            "101",
            "01/15/2026",
            "USD",
            "deferred_revenue",
            "",
            "1200.00",
            "Pro, yearly",
            "Acme, Inc.",
        ],
        ["101", "01/15/2026", "USD", "tax_payable", "", "240.00", "Pro, yearly", "Acme, Inc."],
        ["102", "01/15/2026", "USD", "cash", "1440.00", "", "", "Acme, Inc."],
        ["102", "01/15/2026", "USD", "Accounts Receivable (A/R)", "", "1440.00", "", "Acme, Inc."],
        [
            "103",
            "01/31/2026",
            "USD",
            "deferred_revenue",
            "55.89",
            "",
            "Revenue recognised for 2026-01",
            "Acme, Inc.",
        ],
        [
            "103",
            "01/31/2026",
            "USD",
            "Sales:Subscriptions",
            "",
            "55.89",
            "Revenue recognised for 2026-01",
            "Acme, Inc.",
        ],
        ["4", "02/03/2026", "USD", "deferred_revenue", "240.00", "", "", "Acme, Inc."],
        ["4", "02/03/2026", "USD", "Sales:Subscriptions", "60.00", "", "", "Acme, Inc."],
        ["4", "02/03/2026", "USD", "Accounts Receivable (A/R)", "", "300.00", "", "Acme, Inc."],
    ]


def test_quickbooks_day_first_dates_and_no_names():
    text = quickbooks_journal_csv(worked_entries()[:1], date_format="%d/%m/%Y")
    assert {(row["Journal Date"], row["Name"]) for row in rows(text)} == {("15/01/2026", "")}


def same_currency_entries():
    return st.sampled_from(["USD", "JPY", "KWD"]).flatmap(
        lambda code: st.lists(built_entries(code), min_size=1, max_size=8)
    )


@FAST
@given(st.lists(built_entries(), max_size=8))
def test_journal_csv_parses_back_to_the_same_numbers(entries):
    parsed = rows(journal_csv(entries))
    lines = [
        (position, entry, line) for position, entry in enumerate(entries, 1) for line in entry.lines
    ]
    assert len(parsed) == len(lines)
    for row, (position, entry, line) in zip(parsed, lines, strict=True):
        assert row["entry_id"] == str(position)
        assert (row["date"], row["kind"], row["currency"]) == (
            entry.date.isoformat(),
            entry.kind,
            entry.currency,
        )
        assert (row["account"], D(row["debit"]), D(row["credit"])) == (
            line.account,
            line.debit,
            line.credit,
        )


@FAST
@given(same_currency_entries())
def test_xero_amounts_sum_to_zero_per_journal(entries):
    sums = defaultdict(Decimal)
    for row in rows(xero_manual_journal_csv(entries, tax_rate="Tax Exempt")):
        sums[(row["Narration"], row["Date"])] += D(row["Amount"])
    assert len(sums) == len(entries)
    assert set(sums.values()) == {0}


@FAST
@given(same_currency_entries())
def test_quickbooks_journals_balance_and_parse_back(entries):
    debits, credits = defaultdict(Decimal), defaultdict(Decimal)
    parsed = rows(quickbooks_journal_csv(entries))
    for row in parsed:
        assert (row["Debits"] == "") != (row["Credits"] == "")
        debits[row["Journal No."]] += D(row["Debits"] or 0)
        credits[row["Journal No."]] += D(row["Credits"] or 0)
    assert debits == credits
    assert [debits[str(n)] for n in range(1, len(entries) + 1)] == [e.debit_total for e in entries]
