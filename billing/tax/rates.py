"""The effective-dated tax rate table: data with sources (rates.csv beside this module) and a pure
loader. No models, no database: plain Python and Decimal.

Each row of rates.csv is one tax component (Quebec has two: GST and QST) with the period it is in
force: valid_from inclusive, valid_to exclusive, an empty bound is open-ended. ``rate`` is a
percentage; ``taxable_share`` is the part of the charge that is taxable (empty = 1; Texas taxes 80%
of a SaaS charge). The date to look a rate up by is the tax point, not the invoice's issue date.

Provenance: re-check every row against the authority before go-live. EU standard rates are from
ibericode/vat-rates at commit 5abb1e1 (2025-08-12); the first period of each jurisdiction has an
open start, so history before it (e.g. Germany's 16% in the second half of 2020) is not kept.
Other rows cite the authority's own page in their ``source`` column.
"""

import csv
import functools
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

RATES_CSV = Path(__file__).with_name("rates.csv")

COLUMNS = ("jurisdiction", "name", "rate", "valid_from", "valid_to", "taxable_share", "source")
NAMES = frozenset({"VAT", "GST", "HST", "PST", "RST", "QST", "IGST", "sales_tax"})
_JURISDICTION = re.compile(r"[A-Z]{2}(-[A-Z]{2})?")

# ISO 3166-1 codes: Greece is GR here (VIES uses EL for VAT numbers, not for this table).
EU_COUNTRIES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    }
)  # fmt: skip

# US states where SaaS is not subject to state sales tax, so they have no row in rates.csv.
# Sources: https://www.nexusbystate.com (checked 2026-06-02) and
# https://www.paddle.com/resources/saas-sales-tax. Local taxes (e.g. Chicago's lease transaction
# tax) are not covered.
US_SAAS_NOT_TAXABLE: frozenset[str] = frozenset(
    {"US-CA", "US-FL", "US-GA", "US-IL", "US-VA", "US-NC", "US-NJ", "US-CO"}
)


@dataclass(frozen=True)
class TaxRate:
    jurisdiction: str
    name: str
    rate: Decimal
    valid_from: date | None
    valid_to: date | None
    taxable_share: Decimal
    source: str

    def in_force_on(self, on: date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_to is None or on < self.valid_to
        )

    def overlaps(self, other: "TaxRate") -> bool:
        starts_before_other_ends = (
            self.valid_from is None or other.valid_to is None or self.valid_from < other.valid_to
        )
        other_starts_before_end = (
            other.valid_from is None or self.valid_to is None or other.valid_from < self.valid_to
        )
        return starts_before_other_ends and other_starts_before_end


def _decimal(value: str, column: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{column} {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{column} {value!r} is not a number")
    return number


def _date(value: str, column: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{column} {value!r} is not an ISO date") from None


def _row(row: dict[str, str]) -> TaxRate:
    values = {column: (row.get(column) or "").strip() for column in COLUMNS}
    if None in row:
        raise ValueError("too many fields")
    jurisdiction = values["jurisdiction"]
    if not _JURISDICTION.fullmatch(jurisdiction):
        raise ValueError(f"jurisdiction {jurisdiction!r} is not like 'DE' or 'CA-QC'")
    if jurisdiction in US_SAAS_NOT_TAXABLE:
        raise ValueError(f"{jurisdiction} is listed in US_SAAS_NOT_TAXABLE")
    if values["name"] not in NAMES:
        raise ValueError(f"unknown tax name {values['name']!r}")
    rate = _decimal(values["rate"], "rate")
    if not Decimal(0) <= rate <= Decimal(100):
        raise ValueError(f"rate {rate} is not a percentage between 0 and 100")
    valid_from = _date(values["valid_from"], "valid_from")
    valid_to = _date(values["valid_to"], "valid_to")
    if valid_from and valid_to and not valid_from < valid_to:
        raise ValueError(f"valid_from {valid_from} is not before valid_to {valid_to}")
    share = Decimal(1)
    if values["taxable_share"]:
        share = _decimal(values["taxable_share"], "taxable_share")
        if not Decimal(0) < share <= Decimal(1):
            raise ValueError(f"taxable_share {share} is not in (0, 1]")
    if not values["source"]:
        raise ValueError("no source")
    return TaxRate(
        jurisdiction=jurisdiction,
        name=values["name"],
        rate=rate,
        valid_from=valid_from,
        valid_to=valid_to,
        taxable_share=share,
        source=values["source"],
    )


def rate_table_parse(text: str) -> tuple[TaxRate, ...]:
    """Parse and validate rates CSV text; raise ValueError naming the line of a bad row."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"line 1: header must be {','.join(COLUMNS)}")
    rates: list[TaxRate] = []
    lines: list[int] = []
    for row in reader:
        line = reader.line_num
        try:
            rate = _row(row)
        except ValueError as error:
            raise ValueError(f"line {line}: {error}") from None
        for earlier, earlier_line in zip(rates, lines, strict=True):
            same = (earlier.jurisdiction, earlier.name) == (rate.jurisdiction, rate.name)
            if same and earlier.overlaps(rate):
                raise ValueError(
                    f"line {line}: {rate.jurisdiction} {rate.name} overlaps line {earlier_line}"
                )
        rates.append(rate)
        lines.append(line)
    return tuple(rates)


@functools.cache
def rate_table() -> tuple[TaxRate, ...]:
    """The validated rows of rates.csv, in file order (read once)."""
    return rate_table_parse(RATES_CSV.read_text(encoding="utf-8"))


def rates_for(
    jurisdiction: str,
    on: date,
    table: tuple[TaxRate, ...] | None = None,
    overrides: tuple[TaxRate, ...] = (),
) -> list[TaxRate]:
    """The components in force in ``jurisdiction`` on ``on`` (the tax point), in table order.
    An override in force (staff's rows) replaces the table's rows of its name."""
    rows = rate_table() if table is None else table
    found = [rate for rate in rows if rate.jurisdiction == jurisdiction and rate.in_force_on(on)]
    if not overrides:
        return found
    replaced = [o for o in overrides if o.jurisdiction == jurisdiction and o.in_force_on(on)]
    names = {o.name for o in replaced}
    return [rate for rate in found if rate.name not in names] + replaced
