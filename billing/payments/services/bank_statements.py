"""Bank statement import: a CSV file of the money that arrived, one transfer per row, each
recorded (and matched) through `bank_transfer_record`.

The file has a header row; the columns are recognised by common names (see `COLUMNS`):
date, amount, currency, reference (the bank's transaction id), remittance / description,
payer name, payer account. Delimiter `,`, `;` or tab; amounts with a decimal point or a
decimal comma; ISO 8601 dates. Rows are numbered as in a spreadsheet: the header is row 1.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from billing.events.services import Actor
from billing.payments.models.payments import BankTransferStatus
from billing.payments.services.bank_transfers import bank_transfer_record

MAX_STATEMENT_ROWS = 10_000


@dataclass
class ImportResult:
    created: int = 0
    duplicates: int = 0
    matched: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # outgoing payments
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row number, message)


COLUMNS = {
    "date": ["date", "booking_date", "value_date", "transaction_date", "received_at", "datum"],
    "amount": ["amount", "value", "credit", "betrag", "montant"],
    "currency": ["currency", "ccy", "currency_code", "curr", "wahrung", "devise"],
    "reference": [
        "reference", "bank_reference", "transaction_id", "transaction_reference", "id", "ref",
        "bank_transaction_id", "end_to_end_id",
    ],
    "remittance": [
        "remittance", "remittance_information", "remittance_info", "description", "details",
        "memo", "purpose", "narrative", "verwendungszweck", "libelle",
    ],
    "payer_name": ["payer_name", "payer", "name", "counterparty", "counterparty_name", "sender"],
    "payer_account": ["payer_account", "account", "iban", "payer_iban", "counterparty_account"],
}  # fmt: skip
REQUIRED_COLUMNS = ("date", "amount", "currency", "reference")


def _header_key(text: str) -> str:
    text = text.strip().lower().replace("ä", "a")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _columns(header: list[str]) -> dict[str, int]:
    keys = [_header_key(name) for name in header]
    found = {}
    for column, aliases in COLUMNS.items():
        index = next((keys.index(a) for a in aliases if a in keys), None)
        if index is not None:
            found[column] = index
    return found


def parse_statement_amount(text: str) -> Decimal:
    """ "1234.56", "1234,56", "1,234.56", "1.234,56", "-12", "+1 234,50" → Decimal. One
    separator occurring once is the decimal separator; a repeated one groups thousands."""
    value = re.sub(r"[\s'\u00a0]", "", text or "")
    if not re.fullmatch(r"[+-]?[0-9.,]*[0-9][0-9.,]*", value):
        raise ValueError(f"{text!r} is not an amount.")
    if "," in value and "." in value:
        decimal_mark = "," if value.rfind(",") > value.rfind(".") else "."
        value = value.replace("." if decimal_mark == "," else ",", "").replace(",", ".")
    elif value.count(",") == 1:
        value = value.replace(",", ".")
    elif value.count(",") > 1 or value.count(".") > 1:
        value = value.replace(",", "").replace(".", "")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount.") from None


def parse_statement_date(text: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC when it has no offset)."""
    text = (text or "").strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date (YYYY-MM-DD).") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _decoded(file) -> str:
    raw = file.read() if hasattr(file, "read") else file
    if isinstance(raw, str):
        return raw.lstrip("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _rows(text: str) -> list[list[str]]:
    first = text.split("\n", 1)[0]
    delimiter = max([";", "\t", ","], key=first.count) if first.strip() else ","
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _import_row(cells: list[str], columns: dict[str, int]) -> dict:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    for name in REQUIRED_COLUMNS:
        if not cell(name):
            raise ValueError(f"The {name} is empty.")
    return {
        "received_at": parse_statement_date(cell("date")),
        "amount": parse_statement_amount(cell("amount")),
        "currency": cell("currency").upper(),
        "bank_reference": cell("reference"),
        "remittance": cell("remittance"),
        "payer_name": cell("payer_name"),
        "payer_account": cell("payer_account"),
    }


def bank_statement_import(
    *, file, filename: str, at: datetime, actor: Actor = None
) -> ImportResult:
    """Import a CSV bank statement (a header row, then one transfer per row; see `COLUMNS` for
    the header names understood). Each good row is recorded (and matched) on its own; a bad
    row changes nothing and is reported with its row number (the header is row 1).
    Outgoing payments (negative amounts) are skipped and reported."""
    result = ImportResult()
    try:
        rows = _rows(_decoded(file))
    except csv.Error as error:  # e.g. a stray carriage return: not a CSV we can read
        result.errors.append((1, f"Not a readable CSV file: {error}."))
        return result
    if not rows:
        result.errors.append((1, "The file is empty."))
        return result
    columns = _columns(rows[0])
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        result.errors.append((1, f"Missing column(s): {', '.join(missing)}."))
        return result
    if len(rows) - 1 > MAX_STATEMENT_ROWS:
        result.errors.append((1, f"At most {MAX_STATEMENT_ROWS} rows per file."))
        return result
    for number, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        try:
            values = _import_row(cells, columns)
            if values["amount"] < 0:
                result.skipped.append((number, "Outgoing payment (negative amount): skipped."))
                continue
            transfer, created = bank_transfer_record(
                **values, statement=filename, at=at, actor=actor
            )
        except ValueError as exc:
            result.errors.append((number, str(exc)))
            continue
        except ValidationError as exc:
            result.errors.append((number, " ".join(exc.messages)))
            continue
        if not created:
            result.duplicates += 1
            continue
        result.created += 1
        result.matched += int(transfer.status == BankTransferStatus.MATCHED)
    return result
