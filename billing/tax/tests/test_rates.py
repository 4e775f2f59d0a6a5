"""The effective-dated rate table: worked values from rates.csv and the validator. No database."""

from datetime import date
from decimal import Decimal

import pytest

from billing.tax.rates import (
    EU_COUNTRIES,
    US_SAAS_NOT_TAXABLE,
    TaxRate,
    rate_table,
    rate_table_parse,
    rates_for,
)

HEADER = "jurisdiction,name,rate,valid_from,valid_to,taxable_share,source\n"
SRC = "https://example.org/rates"


def components(jurisdiction, on):
    return [(rate.name, rate.rate) for rate in rates_for(jurisdiction, on)]


@pytest.mark.parametrize(
    ("jurisdiction", "on", "expected"),
    [
        ("FI", date(2024, 8, 31), [("VAT", Decimal("24"))]),
        ("FI", date(2024, 9, 1), [("VAT", Decimal("25.5"))]),
        ("SK", date(2024, 12, 31), [("VAT", Decimal("20"))]),
        ("SK", date(2025, 1, 1), [("VAT", Decimal("23"))]),
        ("EE", date(2023, 12, 31), [("VAT", Decimal("20"))]),
        ("EE", date(2025, 6, 30), [("VAT", Decimal("22"))]),
        ("EE", date(2025, 7, 1), [("VAT", Decimal("24"))]),
        ("RO", date(2025, 7, 31), [("VAT", Decimal("19"))]),
        ("RO", date(2025, 8, 1), [("VAT", Decimal("21"))]),
        ("LU", date(2022, 12, 31), [("VAT", Decimal("17"))]),
        ("LU", date(2023, 6, 1), [("VAT", Decimal("16"))]),
        ("LU", date(2024, 1, 1), [("VAT", Decimal("17"))]),
        ("DE", date(2026, 1, 1), [("VAT", Decimal("19"))]),
        ("GR", date(2026, 1, 1), [("VAT", Decimal("24"))]),
        ("GB", date(2026, 1, 1), [("VAT", Decimal("20"))]),
        ("AU", date(2026, 1, 1), [("GST", Decimal("10"))]),
        ("NZ", date(2026, 1, 1), [("GST", Decimal("15"))]),
        ("SG", date(2022, 12, 31), [("GST", Decimal("7"))]),
        ("SG", date(2023, 1, 1), [("GST", Decimal("8"))]),
        ("SG", date(2023, 12, 31), [("GST", Decimal("8"))]),
        ("SG", date(2024, 1, 1), [("GST", Decimal("9"))]),
        ("IN", date(2026, 1, 1), [("IGST", Decimal("18"))]),
        ("CA-NS", date(2025, 3, 31), [("HST", Decimal("15"))]),
        ("CA-NS", date(2025, 4, 1), [("HST", Decimal("14"))]),
        ("CA-ON", date(2026, 1, 1), [("HST", Decimal("13"))]),
        ("CA-QC", date(2026, 1, 1), [("GST", Decimal("5")), ("QST", Decimal("9.975"))]),
        ("CA-BC", date(2026, 1, 1), [("GST", Decimal("5")), ("PST", Decimal("7"))]),
        ("CA-MB", date(2026, 1, 1), [("GST", Decimal("5")), ("RST", Decimal("7"))]),
        ("CA-SK", date(2026, 1, 1), [("GST", Decimal("5")), ("PST", Decimal("6"))]),
        ("CA-AB", date(2026, 1, 1), [("GST", Decimal("5"))]),
        ("US-SD", date(2023, 6, 30), [("sales_tax", Decimal("4.5"))]),
        ("US-SD", date(2023, 7, 1), [("sales_tax", Decimal("4.2"))]),
        ("US-NM", date(2022, 6, 30), [("sales_tax", Decimal("5.125"))]),
        ("US-NM", date(2022, 7, 1), [("sales_tax", Decimal("5"))]),
        ("US-NM", date(2023, 7, 1), [("sales_tax", Decimal("4.875"))]),
        ("US-DC", date(2025, 9, 30), [("sales_tax", Decimal("6"))]),
        ("US-DC", date(2025, 10, 1), [("sales_tax", Decimal("6.5"))]),
        ("US-CT", date(2026, 1, 1), [("sales_tax", Decimal("1"))]),
        ("US-KY", date(2022, 12, 31), []),
        ("US-KY", date(2023, 1, 1), [("sales_tax", Decimal("6"))]),
        ("US-MD", date(2025, 6, 30), []),
        ("US-MD", date(2025, 7, 1), [("sales_tax", Decimal("3"))]),
        ("US-CA", date(2026, 1, 1), []),
        ("XX", date(2026, 1, 1), []),
    ],
)
def test_worked_rates(jurisdiction, on, expected):
    assert components(jurisdiction, on) == expected


def test_texas_taxes_80_percent_of_saas():
    [texas] = rates_for("US-TX", date(2026, 1, 1))
    assert (texas.rate, texas.taxable_share) == (Decimal("6.25"), Decimal("0.8"))
    [ny] = rates_for("US-NY", date(2026, 1, 1))
    assert ny.taxable_share == Decimal(1)


def test_states_where_saas_is_not_taxable_have_no_rows():
    assert "US-CA" in US_SAAS_NOT_TAXABLE
    assert len(US_SAAS_NOT_TAXABLE) == 8
    assert not {rate.jurisdiction for rate in rate_table()} & US_SAAS_NOT_TAXABLE


def test_every_eu_country_has_exactly_one_vat_rate_in_force():
    assert len(EU_COUNTRIES) == 27
    assert "GR" in EU_COUNTRIES
    assert "EL" not in EU_COUNTRIES
    for country in sorted(EU_COUNTRIES):
        assert [rate.name for rate in rates_for(country, date(2026, 1, 1))] == ["VAT"], country


def test_every_row_has_a_source_and_the_table_is_read_once():
    table = rate_table()
    assert table is rate_table()
    assert all(rate.source.startswith("https://") for rate in table)
    assert all(isinstance(rate.rate, Decimal) for rate in table)


def test_table_override():
    table = (TaxRate("DE", "VAT", Decimal(7), None, None, Decimal(1), SRC),)
    assert [rate.rate for rate in rates_for("DE", date(2026, 1, 1), table)] == [Decimal(7)]


def test_parser_reads_open_bounds_and_shares():
    [first, second] = rate_table_parse(
        HEADER
        + f"US-TX,sales_tax,6.25,,2024-01-01,0.8,{SRC}\nUS-TX,sales_tax,7,2024-01-01,,,{SRC}\n"
    )
    assert first == TaxRate(
        "US-TX", "sales_tax", Decimal("6.25"), None, date(2024, 1, 1), Decimal("0.8"), SRC
    )
    assert (second.valid_from, second.valid_to, second.taxable_share) == (
        date(2024, 1, 1),
        None,
        Decimal(1),
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            f"DE,VAT,19,,2024-01-01,,{SRC}\nDE,VAT,20,2023-12-31,,,{SRC}\n",
            "line 3: DE VAT overlaps line 2",
        ),
        (f"DE,VAT,19,,,,{SRC}\nDE,VAT,20,2030-01-01,,,{SRC}\n", "line 3: DE VAT overlaps line 2"),
        ("DE,VAT,19,,,,\n", "line 2: no source"),
        (f"DE,VAT,19,,,,{SRC}\nDE,VAT,120,,,,{SRC}\n", "line 3: rate 120 is not a percentage"),
        (f"DE,VAT,-1,,,,{SRC}\n", "line 2: rate -1"),
        (f"DE,VAT,abc,,,,{SRC}\n", "line 2: rate 'abc' is not a number"),
        (f"DE,VAT,NaN,,,,{SRC}\n", "line 2: rate 'NaN' is not a number"),
        (f"DE,VAT,19,2024-01-01,2024-01-01,,{SRC}\n", "line 2: valid_from 2024-01-01 is not"),
        (f"DE,VAT,19,2024-13-01,,,{SRC}\n", "line 2: valid_from '2024-13-01' is not an ISO"),
        (f"DE,TVA,19,,,,{SRC}\n", "line 2: unknown tax name 'TVA'"),
        (f"Germany,VAT,19,,,,{SRC}\n", "line 2: jurisdiction 'Germany'"),
        (f"US-CA,sales_tax,6,,,,{SRC}\n", "line 2: US-CA is listed in US_SAAS_NOT_TAXABLE"),
        (f"US-TX,sales_tax,6.25,,,1.2,{SRC}\n", "line 2: taxable_share 1.2"),
        (f"DE,VAT,19,,,,{SRC},extra\n", "line 2: too many fields"),
    ],
)
def test_validator_rejects_bad_rows(rows, message):
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        rate_table_parse(HEADER + rows)


def test_validator_accepts_adjacent_periods_and_other_components():
    rows = (
        f"CA-QC,GST,5,,,,{SRC}\nCA-QC,QST,9.975,,,,{SRC}\n"
        f"DE,VAT,16,2020-07-01,2021-01-01,,{SRC}\nDE,VAT,19,2021-01-01,,,{SRC}\n"
        f"DE,VAT,19,,2020-07-01,,{SRC}\n"
    )
    assert len(rate_table_parse(HEADER + rows)) == 5


def test_validator_rejects_a_wrong_header():
    with pytest.raises(ValueError, match="^line 1: header"):
        rate_table_parse("country,name,rate\nDE,VAT,19\n")
