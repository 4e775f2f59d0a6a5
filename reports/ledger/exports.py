"""Journal entries as CSV: our own journal export and the manual-journal import files of Xero
and QuickBooks Online. One journal per entry; amounts are plain decimal strings in the entry
currency's precision ("1440.00", "-240.00"; no thousands separators or currency symbols); rows
end in CRLF. Every entry is checked (`entry_check`) before anything is written. An entry
without an `id` (not yet stored) is numbered by its position in the export, from 1.

`journal_csv`: one row per line, columns entry_id, date (ISO 8601, 2026-01-31), kind, source,
currency, account, debit, credit, memo; the side not posted is "0.00".

Xero, "Enter multiple manual journals using an import template",
https://help.xero.com/nz/ManualJournalsImport (Xero's help):
- columns Narration, Date, Description, AccountCode, TaxRate, Amount, then the optional
  tracking columns TrackingName1, TrackingOption1, TrackingName2, TrackingOption2 (left empty);
- rows with the same Narration and Date become the lines of one journal, so the narration
  starts with the entry id; Description is per line (the entry's memo);
- Date as dd/mm/yyyy (the page also accepts "dd mmm yyyy"); written as 31/01/2026;
- AccountCode is the code in the organisation's chart of accounts ("200", not "200 - Sales"):
  `accounts` maps our account codes to Xero's;
- TaxRate is mandatory, the full name of a tax rate as in the organisation's tax settings.
  Tax is already on its own line here, so pass the name of a rate without tax (such as
  "Tax Exempt", "No GST" or "BAS Excluded", by region); a rate with a percentage would make
  Xero add tax again;
- Amount positive for a debit, negative for a credit, so each journal sums to zero;
- at most 300 lines in one file (`xero_batches` splits entries into files); they import as
  draft journals.
Not confirmed: whether Xero's downloaded template marks the mandatory headings with "*" (they
are written as the help page names them); the tracking headings after TrackingName1 and
TrackingOption1 (the page text was cut off; TrackingName2/TrackingOption2 follow the same
pattern, as in Zed Axis' Xero field list, https://support.zed-systems.com/kb/a203/); that a
manual journal is in the organisation's base currency only (no currency column is described):
a Xero file takes entries of one currency and the amounts are imported as they are.

QuickBooks Online, "Import journal entries",
https://quickbooks.intuit.com/learn-support/en-au/help-article/import-export-files/import-journal-entries-quickbooks-online/L4tQBwbs7_AU_en_AU
(Intuit's help, Australian edition):
- columns Journal No., Journal Date, Account Name, Description, Debits, Credits, and Name, which
  QuickBooks asks for on accounts receivable and payable lines (a customer or supplier): the
  `names` mapping gives the customer's name per entry source, put on each line of the entry;
- Account Name is the account's name, not its number (account numbers turned off for the
  import; a sub-account as "Parent:Sub"): `accounts` maps our account codes to those names;
- rows with the same Journal No. are one journal entry: the entry id.
From other sources, not from Intuit's page: a Currency column (the ISO code; used when
multicurrency is on, per Transaction Pro's field list for QuickBooks Online journal entries,
https://support.transactionpro.com/kb/article/492-journal-entry-import-fields-for-transaction-pro-online/);
Debits and Credits as positive amounts with the other side left blank, and the date as
MM/DD/YYYY (https://spreadsheetbroccoli.com/platforms/quickbooks_online/import-journal-entry-guide,
https://www.postbooks.app/blog/how-to-import-journal-entries-into-quickbooks-online).
Not confirmed: the date format a company outside the US must use (`date_format`, "%d/%m/%Y"
for day first), whether QuickBooks maps the Currency heading by itself, and the longest
Journal No. it takes (Transaction Pro says 21 characters).
"""

import csv
import io
from collections.abc import Iterable, Mapping
from decimal import Decimal

from catalog.money import format_amount
from reports.ledger.entries import Entry, entry_check

JOURNAL_COLUMNS = (
    "entry_id",
    "date",
    "kind",
    "source",
    "currency",
    "account",
    "debit",
    "credit",
    "memo",
)
XERO_COLUMNS = (
    "Narration",
    "Date",
    "Description",
    "AccountCode",
    "TaxRate",
    "Amount",
    "TrackingName1",
    "TrackingOption1",
    "TrackingName2",
    "TrackingOption2",
)
XERO_MAX_LINES = 300
XERO_DATE_FORMAT = "%d/%m/%Y"
QUICKBOOKS_COLUMNS = (
    "Journal No.",
    "Journal Date",
    "Currency",
    "Account Name",
    "Debits",
    "Credits",
    "Description",
    "Name",
)
QUICKBOOKS_DATE_FORMAT = "%m/%d/%Y"


def journal_csv(entries: Iterable[Entry]) -> str:
    """One row per line: entry_id, date, kind, source, currency, account, debit, credit, memo."""
    out, writer = _writer(JOURNAL_COLUMNS)
    for entry_id, entry in _numbered(entries):
        for line in entry.lines:
            writer.writerow(
                [
                    entry_id,
                    entry.date.isoformat(),
                    entry.kind,
                    entry.source,
                    entry.currency,
                    line.account,
                    format_amount(line.debit, entry.currency),
                    format_amount(line.credit, entry.currency),
                    entry.memo,
                ]
            )
    return out.getvalue()


def xero_manual_journal_csv(
    entries: Iterable[Entry], *, tax_rate: str, accounts: Mapping[str, str] | None = None
) -> str:
    """Xero's manual journal import file (layout in the module docstring). `tax_rate`: the name
    of a rate without tax in the organisation; `accounts`: our account code -> Xero AccountCode
    (codes not in it are written as they are). Raises ValueError for entries in more than one
    currency or more than XERO_MAX_LINES lines (split them with `xero_batches`)."""
    if not tax_rate.strip():
        raise ValueError("Xero needs a TaxRate on every line: the name of a rate without tax.")
    numbered = list(_numbered(entries))
    currencies = sorted({entry.currency for _, entry in numbered})
    if len(currencies) > 1:
        raise ValueError(f"A Xero file holds one currency, not {', '.join(currencies)}.")
    line_count = sum(len(entry.lines) for _, entry in numbered)
    if line_count > XERO_MAX_LINES:
        raise ValueError(
            f"Xero imports at most {XERO_MAX_LINES} lines in one file, not {line_count}; "
            "split the entries with xero_batches."
        )
    accounts = accounts or {}
    out, writer = _writer(XERO_COLUMNS)
    for entry_id, entry in numbered:
        narration = _text(f"{entry_id} {entry.kind} {entry.source}")
        for line in entry.lines:
            writer.writerow(
                [
                    narration,
                    entry.date.strftime(XERO_DATE_FORMAT),
                    _text(entry.memo),
                    accounts.get(line.account, line.account),
                    tax_rate,
                    format_amount(line.debit - line.credit, entry.currency),
                    "",
                    "",
                    "",
                    "",
                ]
            )
    return out.getvalue()


def xero_batches(entries: Iterable[Entry], *, max_lines: int = XERO_MAX_LINES) -> list[list[Entry]]:
    """The entries in order, cut into runs of at most `max_lines` lines without splitting an
    entry: one Xero file each. Give the entries ids first, or each file numbers from 1."""
    batches: list[list[Entry]] = []
    lines_in_batch = 0
    for entry in entries:
        if len(entry.lines) > max_lines:
            raise ValueError(f"An entry of {len(entry.lines)} lines does not fit one file.")
        if not batches or lines_in_batch + len(entry.lines) > max_lines:
            batches.append([])
            lines_in_batch = 0
        batches[-1].append(entry)
        lines_in_batch += len(entry.lines)
    return batches


def quickbooks_journal_csv(
    entries: Iterable[Entry],
    *,
    accounts: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    date_format: str = QUICKBOOKS_DATE_FORMAT,
) -> str:
    """QuickBooks Online's journal entry import file (layout in the module docstring).
    `accounts`: our account code -> QuickBooks account name (codes not in it are written as
    they are); `names`: entry source -> customer name for the Name column; `date_format`:
    "%m/%d/%Y" (US) unless the company's dates are day first ("%d/%m/%Y")."""
    accounts = accounts or {}
    names = names or {}
    out, writer = _writer(QUICKBOOKS_COLUMNS)
    for entry_id, entry in _numbered(entries):
        for line in entry.lines:
            writer.writerow(
                [
                    entry_id,
                    entry.date.strftime(date_format),
                    entry.currency,
                    accounts.get(line.account, line.account),
                    _side(line.debit, entry.currency),
                    _side(line.credit, entry.currency),
                    _text(entry.memo),
                    _text(names.get(entry.source, "")),
                ]
            )
    return out.getvalue()


def _numbered(entries: Iterable[Entry]) -> Iterable[tuple[str, Entry]]:
    for position, entry in enumerate(entries, start=1):
        entry_check(entry)
        yield str(entry.id if entry.id is not None else position), entry


def _writer(columns: tuple[str, ...]):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    return out, writer


def _side(amount: Decimal, currency: str) -> str:
    return format_amount(amount, currency) if amount else ""


def _text(value: str) -> str:
    """The text on one line, spaces collapsed (import files keep a cell to one line)."""
    return " ".join(value.split())
