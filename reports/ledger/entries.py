"""Journal entries: lines of debits and credits that balance, built from plain Decimal amounts.

An `Entry` is one journal entry in one currency; each `Line` posts to one account on exactly one
side. The builders take the amounts of a business event (already rounded to the currency's
precision, as invoice lines are) and return a checked, balanced entry; a zero amount posts no
line. Accounts are named by role; `DEFAULT_ACCOUNTS` maps each role to its default code (the
codes of the API contract) and a caller passes `accounts={"revenue": "4000", ...}` to post to
configured codes instead.

The postings:
- invoice finalised: Dr accounts_receivable the total (Dr customer_balance for the part paid
  from the customer's balance); Cr deferred_revenue the net of lines whose service period is
  still to come, Cr revenue the net recognised at once (one-time fees, usage), Cr tax_payable.
- payment: Dr cash; Cr accounts_receivable, and Cr customer_balance an overpayment.
- refund: Dr accounts_receivable (or customer_balance for a refund of the balance); Cr cash.
- credit note: Dr deferred_revenue what is still deferred (reversed first), Dr revenue the rest
  of the net, Dr tax_payable its tax; Cr accounts_receivable (or customer_balance).
- recognition: Dr deferred_revenue, Cr revenue (a month's share of deferred revenue).
- usage accrual at month end: Dr unbilled_receivable, Cr revenue; its reversal when the usage is
  invoiced: Dr revenue, Cr unbilled_receivable (the invoice then credits revenue).
- balance applied to an open invoice: Dr customer_balance, Cr accounts_receivable.

Balances are debit-positive: an account's balance is its debits less its credits.
"""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from catalog.money import currency_precision, money_places_error, round_money

ZERO = Decimal(0)
KINDS = ("invoice", "payment", "recognition", "credit_note", "refund", "usage_accrual", "balance")
DEFAULT_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        role: role
        for role in (
            "accounts_receivable",
            "cash",
            "deferred_revenue",
            "revenue",
            "tax_payable",
            "unbilled_receivable",
            "customer_balance",
        )
    }
)


@dataclass(frozen=True)
class Line:
    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO


@dataclass(frozen=True)
class Entry:
    date: datetime.date
    kind: str
    source: str
    currency: str
    lines: tuple[Line, ...]
    memo: str = ""
    id: int | str | None = None  # set once the entry is stored; None for a built entry

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))

    @property
    def debit_total(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)


def entry_check(entry: Entry) -> None:
    """Raise ValueError unless the entry is a known kind in a known currency, has at least two
    lines, each line has an account and exactly one side > 0 (the other 0) in the currency's
    precision, and its debits equal its credits."""
    if entry.kind not in KINDS:
        raise ValueError(f"Unknown entry kind {entry.kind!r}; kinds are {', '.join(KINDS)}.")
    if isinstance(entry.date, datetime.datetime) or not isinstance(entry.date, datetime.date):
        raise ValueError(f"An entry's date is a date, not {entry.date!r}.")
    currency_precision(entry.currency)  # ValueError for an unknown currency
    if len(entry.lines) < 2:
        raise ValueError(f"An entry has at least two lines, not {len(entry.lines)}.")
    for line in entry.lines:
        if not isinstance(line.account, str) or not line.account.strip():
            raise ValueError(f"A line needs an account code, not {line.account!r}.")
        for side in (line.debit, line.credit):
            if not isinstance(side, Decimal) or not side.is_finite():
                raise ValueError(f"Line amounts are finite Decimals, not {side!r}.")
            problem = money_places_error(side, entry.currency)
            if problem:
                raise ValueError(f"{line.account} {side}: {problem}")
        one_side = (line.debit > 0 and line.credit == 0) or (line.credit > 0 and line.debit == 0)
        if not one_side:
            raise ValueError(
                f"Line {line.account} needs exactly one side above zero and the other zero "
                f"(debit {line.debit}, credit {line.credit})."
            )
    if entry.debit_total != entry.credit_total:
        raise ValueError(
            f"Entry does not balance: debits {entry.debit_total}, credits {entry.credit_total}."
        )


def trial_balance(entries: Iterable[Entry]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """{account: (debits, credits, balance)} over entries of one currency, accounts sorted;
    balance = debits - credits. Raises ValueError for an entry that fails `entry_check`, for
    entries in more than one currency (never added together), or if the balances do not sum
    to zero."""
    currencies: set[str] = set()
    debits: dict[str, Decimal] = {}
    credits: dict[str, Decimal] = {}
    for entry in entries:
        entry_check(entry)
        currencies.add(entry.currency)
        if len(currencies) > 1:
            raise ValueError(
                f"A trial balance is in one currency, not {', '.join(sorted(currencies))}."
            )
        for line in entry.lines:
            debits[line.account] = debits.get(line.account, ZERO) + line.debit
            credits[line.account] = credits.get(line.account, ZERO) + line.credit
    balances = {
        account: (debits[account], credits[account], debits[account] - credits[account])
        for account in sorted(debits)
    }
    total = sum((balance for _, _, balance in balances.values()), ZERO)
    if total != 0:
        raise ValueError(f"The trial balance does not sum to zero (it is out by {total}).")
    return balances


def invoice_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    deferred: Decimal = ZERO,
    recognized: Decimal = ZERO,
    tax: Decimal = ZERO,
    from_balance: Decimal = ZERO,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """An invoice finalised. `deferred`: net of the lines whose service period is still to come;
    `recognized`: net recognised at once (one-time fees, usage); `tax`: the invoice's tax;
    `from_balance`: the part of the total paid from the customer's balance."""
    deferred, recognized, tax, from_balance = _amounts(
        currency, deferred=deferred, recognized=recognized, tax=tax, from_balance=from_balance
    )
    total = deferred + recognized + tax
    _at_most(from_balance, total, "from_balance", "the invoice total")
    debits = {"accounts_receivable": total - from_balance, "customer_balance": from_balance}
    credits = {"deferred_revenue": deferred, "revenue": recognized, "tax_payable": tax}
    return _post("invoice", date, source, currency, memo, accounts, debits, credits)


def payment_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    amount: Decimal,
    overpayment: Decimal = ZERO,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """A payment received: `amount` in cash, of which `overpayment` goes to the customer's
    balance and the rest settles receivables."""
    amount, overpayment = _amounts(currency, amount=amount, overpayment=overpayment)
    _at_most(overpayment, amount, "overpayment", "the amount")
    debits = {"cash": amount}
    credits = {"accounts_receivable": amount - overpayment, "customer_balance": overpayment}
    return _post("payment", date, source, currency, memo, accounts, debits, credits)


def refund_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    amount: Decimal,
    from_balance: Decimal = ZERO,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """A refund paid out: `amount` in cash, of which `from_balance` comes out of the customer's
    balance and the rest out of receivables (the credit a credit note left there)."""
    amount, from_balance = _amounts(currency, amount=amount, from_balance=from_balance)
    _at_most(from_balance, amount, "from_balance", "the amount")
    debits = {"accounts_receivable": amount - from_balance, "customer_balance": from_balance}
    credits = {"cash": amount}
    return _post("refund", date, source, currency, memo, accounts, debits, credits)


def credit_note_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    net: Decimal,
    tax: Decimal = ZERO,
    still_deferred: Decimal = ZERO,
    to_balance: Decimal = ZERO,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """A credit note of `net` + `tax`. It reverses what is still deferred of the lines it
    credits first (up to `still_deferred`), then revenue; `to_balance` of the total goes to the
    customer's balance, the rest reduces receivables."""
    net, tax, still_deferred, to_balance = _amounts(
        currency, net=net, tax=tax, still_deferred=still_deferred, to_balance=to_balance
    )
    total = net + tax
    _at_most(to_balance, total, "to_balance", "the credit note total")
    from_deferred = min(net, still_deferred)
    debits = {
        "deferred_revenue": from_deferred,
        "revenue": net - from_deferred,
        "tax_payable": tax,
    }
    credits = {"accounts_receivable": total - to_balance, "customer_balance": to_balance}
    return _post("credit_note", date, source, currency, memo, accounts, debits, credits)


def recognition_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    amount: Decimal,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """Revenue recognised for a month (dated its last day): deferred revenue becomes revenue."""
    memo = memo or f"Revenue recognised for {date:%Y-%m}"
    return _transfer(
        "recognition", "deferred_revenue", "revenue", date, source, currency, amount, memo, accounts
    )


def usage_accrual_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    amount: Decimal,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """Usage consumed but not yet invoiced, accrued at month end as revenue."""
    memo = memo or f"Usage accrued for {date:%Y-%m}"
    return _transfer(
        "usage_accrual",
        "unbilled_receivable",
        "revenue",
        date,
        source,
        currency,
        amount,
        memo,
        accounts,
    )


def usage_accrual_reversal_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    amount: Decimal,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """An accrual reversed when its usage is invoiced (the invoice credits revenue instead)."""
    memo = memo or "Usage accrual reversed on invoicing"
    return _transfer(
        "usage_accrual",
        "revenue",
        "unbilled_receivable",
        date,
        source,
        currency,
        amount,
        memo,
        accounts,
    )


def balance_applied_entry(
    *,
    date: datetime.date,
    source: str,
    currency: str,
    amount: Decimal,
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """The customer's balance applied to an open invoice."""
    memo = memo or "Customer balance applied"
    return _transfer(
        "balance",
        "customer_balance",
        "accounts_receivable",
        date,
        source,
        currency,
        amount,
        memo,
        accounts,
    )


def signed_entry(
    *,
    kind: str,
    date: datetime.date,
    source: str,
    currency: str,
    amounts: Mapping[str, Decimal],
    memo: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Entry:
    """An entry from signed amounts per account role: positive debits, negative credits
    (for postings whose direction depends on the figures: a negative invoice, a correction)."""
    for role, value in amounts.items():
        _amounts(currency, **{role: abs(value)})
    debits = {role: value for role, value in amounts.items() if value > 0}
    credits = {role: -value for role, value in amounts.items() if value < 0}
    return _post(kind, date, source, currency, memo, accounts, debits, credits)


def _transfer(
    kind: str,
    debit: str,
    credit: str,
    date: datetime.date,
    source: str,
    currency: str,
    amount: Decimal,
    memo: str,
    accounts: Mapping[str, str] | None,
) -> Entry:
    """One amount moved from the `credit` account role to the `debit` one."""
    (amount,) = _amounts(currency, amount=amount)
    return _post(kind, date, source, currency, memo, accounts, {debit: amount}, {credit: amount})


def _post(
    kind: str,
    date: datetime.date,
    source: str,
    currency: str,
    memo: str,
    accounts: Mapping[str, str] | None,
    debits: Mapping[str, Decimal],
    credits: Mapping[str, Decimal],
) -> Entry:
    codes = _account_codes(accounts)
    zero = round_money(ZERO, currency)  # the side not posted, in the currency's places too
    lines = [Line(codes[role], amount, zero) for role, amount in debits.items() if amount] + [
        Line(codes[role], zero, amount) for role, amount in credits.items() if amount
    ]
    if not lines:
        raise ValueError(f"Nothing to post for {kind} {source}: the amounts are all zero.")
    entry = Entry(date=date, kind=kind, source=source, currency=currency, lines=lines, memo=memo)
    entry_check(entry)
    return entry


def _account_codes(accounts: Mapping[str, str] | None) -> Mapping[str, str]:
    if not accounts:
        return DEFAULT_ACCOUNTS
    unknown = sorted(set(accounts) - set(DEFAULT_ACCOUNTS))
    if unknown:
        raise ValueError(
            f"Unknown account roles {', '.join(unknown)}; roles are {', '.join(DEFAULT_ACCOUNTS)}."
        )
    codes = {**DEFAULT_ACCOUNTS, **accounts}
    for role, code in codes.items():
        if not isinstance(code, str) or not code.strip():
            raise ValueError(f"The account code for {role} must be a non-empty string.")
    return codes


def _amounts(currency: str, **amounts: Decimal) -> list[Decimal]:
    """The amounts, checked (finite Decimal, not negative, in the currency's precision) and
    written with the currency's places; in the order given."""
    currency_precision(currency)  # ValueError for an unknown currency
    checked = []
    for name, value in amounts.items():
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{name} must be a finite Decimal, not {value!r}.")
        if value < 0:
            raise ValueError(f"{name} must not be negative ({value}).")
        problem = money_places_error(value, currency)
        if problem:
            raise ValueError(f"{name} {value}: {problem} Round it first.")
        checked.append(round_money(value, currency))
    return checked


def _at_most(part: Decimal, whole: Decimal, part_name: str, whole_name: str) -> None:
    if part > whole:
        raise ValueError(f"{part_name} ({part}) is more than {whole_name} ({whole}).")
