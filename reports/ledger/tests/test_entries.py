"""Journal entries: each builder with worked numbers, the checks, and the trial balance."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.ledger.entries import (
    DEFAULT_ACCOUNTS,
    Entry,
    Line,
    balance_applied_entry,
    credit_note_entry,
    entry_check,
    invoice_entry,
    payment_entry,
    recognition_entry,
    refund_entry,
    trial_balance,
    usage_accrual_entry,
    usage_accrual_reversal_entry,
)
from reports.ledger.tests import CURRENCIES, built_entries

FAST = settings(max_examples=200, deadline=None, database=None)
D = Decimal
JAN_15 = datetime.date(2026, 1, 15)
JAN_31 = datetime.date(2026, 1, 31)
USD = {"date": JAN_15, "source": "INV-0001", "currency": "USD"}


def postings(entry: Entry) -> list[tuple[str, str, str]]:
    """(side, account, amount) per line, amounts as strings so places are compared too."""
    return [
        ("Dr", line.account, str(line.debit))
        if line.debit
        else ("Cr", line.account, str(line.credit))
        for line in entry.lines
    ]


def test_default_accounts_are_the_contract_codes():
    assert dict(DEFAULT_ACCOUNTS) == {
        code: code
        for code in [
            "accounts_receivable",
            "cash",
            "deferred_revenue",
            "revenue",
            "tax_payable",
            "unbilled_receivable",
            "customer_balance",
        ]
    }


def test_invoice_for_a_yearly_period_is_deferred():
    entry = invoice_entry(**USD, deferred=D("1200.00"), tax=D("240.00"))
    assert (entry.kind, entry.source, entry.currency, entry.date) == (
        "invoice",
        "INV-0001",
        "USD",
        JAN_15,
    )
    assert postings(entry) == [
        ("Dr", "accounts_receivable", "1440.00"),
        ("Cr", "deferred_revenue", "1200.00"),
        ("Cr", "tax_payable", "240.00"),
    ]


def test_invoice_with_a_one_time_fee_recognises_it_at_once():
    entry = invoice_entry(**USD, deferred=D("1200"), recognized=D("99.5"), tax=D("259.90"))
    assert postings(entry) == [
        ("Dr", "accounts_receivable", "1559.40"),
        ("Cr", "deferred_revenue", "1200.00"),
        ("Cr", "revenue", "99.50"),
        ("Cr", "tax_payable", "259.90"),
    ]


def test_invoice_paid_partly_from_the_customer_balance():
    entry = invoice_entry(**USD, deferred=D("1200.00"), tax=D("240.00"), from_balance=D("60.00"))
    assert postings(entry) == [
        ("Dr", "accounts_receivable", "1380.00"),
        ("Dr", "customer_balance", "60.00"),
        ("Cr", "deferred_revenue", "1200.00"),
        ("Cr", "tax_payable", "240.00"),
    ]
    paid_in_full = invoice_entry(**USD, recognized=D("50.00"), from_balance=D("50.00"))
    assert postings(paid_in_full) == [
        ("Dr", "customer_balance", "50.00"),
        ("Cr", "revenue", "50.00"),
    ]


def test_invoice_in_a_currency_without_minor_units_and_one_with_three():
    yen = invoice_entry(date=JAN_15, source="INV-9", currency="JPY", deferred=D("12000"))
    assert postings(yen) == [
        ("Dr", "accounts_receivable", "12000"),
        ("Cr", "deferred_revenue", "12000"),
    ]
    dinar = invoice_entry(
        date=JAN_15, source="INV-8", currency="KWD", recognized=D("1.5"), tax=D("0.075")
    )
    assert postings(dinar) == [
        ("Dr", "accounts_receivable", "1.575"),
        ("Cr", "revenue", "1.500"),
        ("Cr", "tax_payable", "0.075"),
    ]


def test_recognition_of_january():
    # 1,200.00 over a year from 15 January: 17 of 365 days in January = 55.89.
    entry = recognition_entry(date=JAN_31, source="INV-0001", currency="USD", amount=D("55.89"))
    assert entry.kind == "recognition"
    assert entry.memo == "Revenue recognised for 2026-01"
    assert postings(entry) == [("Dr", "deferred_revenue", "55.89"), ("Cr", "revenue", "55.89")]


def test_payment_and_an_overpayment():
    entry = payment_entry(**USD, amount=D("1440.00"))
    assert entry.kind == "payment"
    assert postings(entry) == [("Dr", "cash", "1440.00"), ("Cr", "accounts_receivable", "1440.00")]
    over = payment_entry(**USD, amount=D("1500.00"), overpayment=D("60.00"))
    assert postings(over) == [
        ("Dr", "cash", "1500.00"),
        ("Cr", "accounts_receivable", "1440.00"),
        ("Cr", "customer_balance", "60.00"),
    ]


def test_credit_note_reverses_what_is_still_deferred_first():
    # 300.00 credited of a line with 240.00 still deferred: 240.00 from deferred, 60.00 revenue.
    entry = credit_note_entry(**USD, net=D("300.00"), still_deferred=D("240.00"))
    assert entry.kind == "credit_note"
    assert postings(entry) == [
        ("Dr", "deferred_revenue", "240.00"),
        ("Dr", "revenue", "60.00"),
        ("Cr", "accounts_receivable", "300.00"),
    ]
    with_tax = credit_note_entry(
        **USD, net=D("300.00"), tax=D("60.00"), still_deferred=D("1144.11"), to_balance=D("360.00")
    )
    assert postings(with_tax) == [
        ("Dr", "deferred_revenue", "300.00"),
        ("Dr", "tax_payable", "60.00"),
        ("Cr", "customer_balance", "360.00"),
    ]


def test_refund_to_the_card_and_of_the_balance():
    entry = refund_entry(**USD, amount=D("360.00"))
    assert entry.kind == "refund"
    assert postings(entry) == [("Dr", "accounts_receivable", "360.00"), ("Cr", "cash", "360.00")]
    of_balance = refund_entry(**USD, amount=D("60.00"), from_balance=D("60.00"))
    assert postings(of_balance) == [("Dr", "customer_balance", "60.00"), ("Cr", "cash", "60.00")]


def test_usage_accrual_and_its_reversal():
    accrual = usage_accrual_entry(date=JAN_31, source="SUB-4", currency="USD", amount=D("12.34"))
    assert accrual.kind == "usage_accrual"
    assert postings(accrual) == [("Dr", "unbilled_receivable", "12.34"), ("Cr", "revenue", "12.34")]
    reversal = usage_accrual_reversal_entry(
        date=datetime.date(2026, 2, 1), source="INV-0002", currency="USD", amount=D("12.34")
    )
    assert reversal.kind == "usage_accrual"
    assert postings(reversal) == [
        ("Dr", "revenue", "12.34"),
        ("Cr", "unbilled_receivable", "12.34"),
    ]


def test_balance_applied():
    entry = balance_applied_entry(**USD, amount=D("60.00"))
    assert entry.kind == "balance"
    assert postings(entry) == [
        ("Dr", "customer_balance", "60.00"),
        ("Cr", "accounts_receivable", "60.00"),
    ]


def test_configured_account_codes():
    entry = invoice_entry(
        **USD,
        recognized=D("100.00"),
        tax=D("20.00"),
        accounts={"revenue": "4000", "tax_payable": "2200"},
    )
    assert postings(entry) == [
        ("Dr", "accounts_receivable", "120.00"),
        ("Cr", "4000", "100.00"),
        ("Cr", "2200", "20.00"),
    ]
    with pytest.raises(ValueError, match="Unknown account roles sales"):
        invoice_entry(**USD, recognized=D("1.00"), accounts={"sales": "4000"})
    with pytest.raises(ValueError, match="non-empty"):
        invoice_entry(**USD, recognized=D("1.00"), accounts={"revenue": " "})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"recognized": D("10.005")}, "at most 2 decimal places"),
        ({"recognized": D("-1.00")}, "must not be negative"),
        ({"recognized": 10}, "finite Decimal"),
        ({"recognized": 10.5}, "finite Decimal"),
        ({"recognized": D("NaN")}, "finite Decimal"),
        ({"recognized": D("10.00"), "from_balance": D("10.01")}, "more than the invoice total"),
        ({}, "all zero"),
    ],
)
def test_invoice_refuses_bad_amounts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        invoice_entry(**USD, **kwargs)


def test_builders_refuse_more_than_the_whole_and_unknown_currencies():
    with pytest.raises(ValueError, match="overpayment"):
        payment_entry(**USD, amount=D("10.00"), overpayment=D("11.00"))
    with pytest.raises(ValueError, match="from_balance"):
        refund_entry(**USD, amount=D("10.00"), from_balance=D("11.00"))
    with pytest.raises(ValueError, match="to_balance"):
        credit_note_entry(**USD, net=D("10.00"), to_balance=D("10.01"))
    with pytest.raises(ValueError, match="whole numbers"):
        payment_entry(date=JAN_15, source="P", currency="JPY", amount=D("1.5"))
    with pytest.raises(ValueError, match="Unknown currency"):
        payment_entry(date=JAN_15, source="P", currency="XYZ", amount=D("1.00"))


def entry_of(*lines: Line, kind="payment", currency="USD", date=JAN_15) -> Entry:
    return Entry(date=date, kind=kind, source="S", currency=currency, lines=lines)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (entry_of(Line("cash", debit=D("1")), Line("revenue", credit=D("2"))), "does not balance"),
        (entry_of(Line("cash", debit=D("1"))), "at least two lines"),
        (entry_of(), "at least two lines"),
        (
            entry_of(Line("cash", D("1"), D("1")), Line("revenue", credit=D("0"))),
            "exactly one side",
        ),
        (entry_of(Line("cash"), Line("revenue")), "exactly one side"),
        (entry_of(Line("cash", D("-1")), Line("revenue", D("0"), D("-1"))), "exactly one side"),
        (
            entry_of(Line("cash", D("2"), D("-1")), Line("revenue", credit=D("1"))),
            "exactly one side",
        ),
        (entry_of(Line("cash", D("1.001")), Line("revenue", credit=D("1.001"))), "decimal places"),
        (entry_of(Line("cash", D("1.5")), Line("r", credit=D("1.5")), currency="JPY"), "whole"),
        (entry_of(Line("cash", 1), Line("revenue", credit=1)), "finite Decimals"),
        (entry_of(Line("", D("1")), Line("revenue", credit=D("1"))), "account code"),
        (
            entry_of(Line("cash", D("1")), Line("r", credit=D("1")), kind="sale"),
            "Unknown entry kind",
        ),
        (
            entry_of(Line("cash", D("1")), Line("r", credit=D("1")), currency="XYZ"),
            "Unknown currency",
        ),
        (
            entry_of(
                Line("c", D("1")), Line("r", credit=D("1")), date=datetime.datetime(2026, 1, 1)
            ),
            "date",
        ),
    ],
)
def test_entry_check_refuses(entry, message):
    with pytest.raises(ValueError, match=message):
        entry_check(entry)


def test_entry_check_accepts_amounts_written_with_fewer_places():
    entry_check(entry_of(Line("cash", debit=D("10")), Line("revenue", credit=D("10.0"))))


def test_entry_is_frozen_and_keeps_lines_as_a_tuple():
    entry = entry_of(*[Line("cash", debit=D("1.00")), Line("revenue", credit=D("1.00"))])
    assert isinstance(Entry(JAN_15, "payment", "S", "USD", list(entry.lines)).lines, tuple)
    with pytest.raises(AttributeError):
        entry.kind = "refund"


def test_trial_balance_of_a_year_invoice_paid_recognised_and_partly_credited():
    entries = [
        invoice_entry(**USD, deferred=D("1200.00"), tax=D("240.00")),
        payment_entry(**USD, amount=D("1500.00"), overpayment=D("60.00")),
        recognition_entry(date=JAN_31, source="INV-0001", currency="USD", amount=D("55.89")),
        credit_note_entry(**USD, net=D("300.00"), tax=D("60.00"), still_deferred=D("1144.11")),
        refund_entry(**USD, amount=D("360.00")),
    ]
    assert trial_balance(entries) == {
        "accounts_receivable": (D("1800.00"), D("1800.00"), D("0.00")),
        "cash": (D("1500.00"), D("360.00"), D("1140.00")),
        "customer_balance": (D("0.00"), D("60.00"), D("-60.00")),
        "deferred_revenue": (D("355.89"), D("1200.00"), D("-844.11")),
        "revenue": (D("0.00"), D("55.89"), D("-55.89")),
        "tax_payable": (D("60.00"), D("240.00"), D("-180.00")),
    }
    assert [str(amount) for amount in trial_balance(entries)["revenue"]] == [
        "0.00",
        "55.89",
        "-55.89",
    ]
    assert list(trial_balance(entries)) == sorted(trial_balance(entries))


def test_trial_balance_refuses_two_currencies_and_unbalanced_entries():
    assert trial_balance([]) == {}
    euros = payment_entry(date=JAN_15, source="P", currency="EUR", amount=D("1.00"))
    with pytest.raises(ValueError, match="one currency"):
        trial_balance([payment_entry(**USD, amount=D("1.00")), euros])
    with pytest.raises(ValueError, match="does not balance"):
        trial_balance([entry_of(Line("cash", debit=D("1")), Line("revenue", credit=D("2")))])


@FAST
@given(built_entries())
def test_every_built_entry_balances(entry):
    entry_check(entry)
    assert entry.debit_total == entry.credit_total > 0
    assert all((line.debit > 0) != (line.credit > 0) for line in entry.lines)


@FAST
@given(st.sampled_from(CURRENCIES).flatmap(lambda code: st.lists(built_entries(code), max_size=12)))
def test_trial_balance_of_built_entries_sums_to_zero(entries):
    balances = trial_balance(entries)
    assert sum(balance for _, _, balance in balances.values()) == 0
    assert sum(debit for debit, _, _ in balances.values()) == sum(e.debit_total for e in entries)
    assert sum(credit for _, credit, _ in balances.values()) == sum(e.credit_total for e in entries)
