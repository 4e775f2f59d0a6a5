"""The tax engine with worked numbers (issue 16's examples) and its invariants."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.tax.engine import (
    REVERSE_CHARGE_NOTE,
    Buyer,
    Seller,
    credit_tax,
    invoice_notes,
    invoice_taxes,
    line_tax,
    tax_decide,
)

D = Decimal
ON = date(2026, 3, 1)
IE = Seller(country="IE", registrations=frozenset({("IE", "")}))
IE_SMALL = Seller(country="IE", registrations=frozenset({("IE", "")}), eu_oss=False)
UK = Seller(country="GB", registrations=frozenset({("GB", "")}))
CA = Seller(
    country="CA", region="ON", registrations=frozenset({("CA", ""), ("CA", "QC"), ("CA", "BC")})
)


def taxed(seller, buyer, amount, *, currency="EUR", behavior="exclusive", on=ON, code="saas"):
    decision = tax_decide(seller=seller, buyer=buyer, tax_code=code, on=on)
    return line_tax(amount=D(amount), decision=decision, currency=currency, behavior=behavior)


def test_a_german_consumer_under_oss_pays_german_vat():
    line = taxed(IE, Buyer(country="DE"), "100")
    assert (line.net, line.tax, line.rate, line.reason) == (D("100.00"), D("19.00"), 19, "standard")
    assert [(t.name, t.jurisdiction) for t in line.taxes] == [("VAT", "DE")]


def test_under_the_threshold_a_consumer_pays_the_sellers_home_rate():
    line = taxed(IE_SMALL, Buyer(country="DE"), "100")
    assert (line.tax, line.taxes[0].jurisdiction) == (D("23.00"), "IE")


def test_an_eu_business_elsewhere_is_reverse_charged_with_the_statement():
    line = taxed(IE, Buyer(country="FR", business=True), "360")
    assert (line.net, line.tax, line.reason, line.taxes) == (D("360.00"), 0, "reverse_charge", ())
    assert invoice_notes([line]) == [REVERSE_CHARGE_NOTE]


def test_a_uk_seller_to_a_french_company_reverse_charges():
    line = taxed(UK, Buyer(country="FR", business=True), "360")
    assert (line.tax, line.reason, invoice_notes([line])) == (
        0,
        "reverse_charge",
        [REVERSE_CHARGE_NOTE],
    )


def test_a_business_in_the_sellers_own_country_pays_the_home_rate():
    line = taxed(IE, Buyer(country="IE", business=True), "100")
    assert (line.tax, line.reason) == (D("23.00"), "standard")


def test_outside_the_registrations_nothing_is_collected():
    assert taxed(IE, Buyer(country="AU"), "100").reason == "not_collecting"
    assert taxed(IE, Buyer(country="US", region="NY"), "100").tax == 0
    assert taxed(UK, Buyer(country="DE"), "100").reason == "not_collecting"


def test_exempt_customers_and_exempt_products_carry_none():
    assert taxed(IE, Buyer(country="IE", tax_exempt="exempt"), "100").reason == "exempt"
    assert taxed(IE, Buyer(country="IE"), "100", code="exempt").tax == 0


def test_twenty_five_percent_exclusive_and_inclusive():
    seller = Seller(country="SE", registrations=frozenset({("SE", "")}))
    decision = tax_decide(seller=seller, buyer=Buyer(country="SE"), tax_code="saas", on=ON)
    assert [c.rate for c in decision.components] == [25]
    exclusive = line_tax(amount=D("193.33"), decision=decision, currency="SEK")
    inclusive = line_tax(
        amount=D("193.33"), decision=decision, currency="SEK", behavior="inclusive"
    )
    assert exclusive.tax == D("48.33")
    assert (inclusive.net, inclusive.tax) == (D("154.66"), D("38.67"))


def test_three_uk_lines_round_per_line_or_once_per_invoice():
    lines = [taxed(UK, Buyer(country="GB"), "33.33", currency="GBP") for _ in range(3)]
    per_line = invoice_taxes(lines, currency="GBP", rounding="line")
    per_invoice = invoice_taxes(lines, currency="GBP", rounding="invoice")
    assert [(r.name, r.rate, r.amount) for r in per_line] == [("VAT", 20, D("20.01"))]
    assert [(r.taxable_amount, r.amount) for r in per_invoice] == [(D("99.99"), D("20.00"))]


def test_quebec_carries_gst_and_qst_as_two_lines():
    line = taxed(CA, Buyer(country="CA", region="QC"), "100", currency="CAD")
    assert [(t.name, t.jurisdiction, t.rounded) for t in line.taxes] == [
        ("GST", "CA-QC", D("5.00")),
        ("QST", "CA-QC", D("9.98")),
    ]


def test_provincial_tax_needs_its_own_registration():
    line = taxed(CA, Buyer(country="CA", region="SK"), "100", currency="CAD")
    assert [(t.name, t.rounded) for t in line.taxes] == [("GST", D("5.00"))]


def test_nova_scotia_by_tax_point():
    ns = Buyer(country="CA", region="NS")
    assert taxed(CA, ns, "100", currency="CAD", on=date(2025, 3, 31)).tax == D("15.00")
    assert taxed(CA, ns, "100", currency="CAD", on=date(2025, 4, 1)).tax == D("14.00")


def test_texas_taxes_eighty_percent_of_a_saas_charge():
    seller = Seller(country="US", region="CA", registrations=frozenset({("US", "TX")}))
    line = taxed(seller, Buyer(country="US", region="TX"), "100", currency="USD")
    assert (line.taxes[0].taxable_amount, line.tax) == (D("80.00"), D("5.00"))


def test_california_does_not_tax_saas():
    seller = Seller(country="US", registrations=frozenset({("US", "CA")}))
    assert taxed(seller, Buyer(country="US", region="CA"), "100").reason == "not_collecting"


def test_minor_units_of_jpy_and_kwd():
    jp = Seller(country="GB", registrations=frozenset({("GB", "")}))
    assert taxed(jp, Buyer(country="GB"), "1234", currency="JPY").tax == D("247")
    assert taxed(jp, Buyer(country="GB"), "1.2345", currency="KWD").tax == D("0.247")


def test_a_credit_note_carries_tax_in_proportion():
    assert credit_tax(amount=D("25.00"), rate=D(25), tax_left=D("50"), currency="EUR") == 5


def test_the_reverse_charge_applies_when_staff_set_it():
    line = taxed(IE, Buyer(country="IE", tax_exempt="reverse"), "100")
    assert (line.tax, line.reason) == (0, "reverse_charge")


def test_an_unknown_behavior_or_rounding_is_refused():
    decision = tax_decide(seller=IE, buyer=Buyer(country="IE"), tax_code="saas", on=ON)
    with pytest.raises(ValueError, match="tax_behavior"):
        line_tax(amount=D(1), decision=decision, currency="EUR", behavior="gross")
    with pytest.raises(ValueError, match="rounding"):
        invoice_taxes([], currency="EUR", rounding="weekly")


amounts = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
buyers = st.sampled_from(
    [
        Buyer(country="DE"),
        Buyer(country="IE"),
        Buyer(country="CA", region="QC"),
        Buyer(country="CA", region="BC"),
        Buyer(country="CA", region="NS"),
    ]
)
SELLER = Seller(
    country="IE", registrations=frozenset({("IE", ""), ("CA", ""), ("CA", "QC"), ("CA", "BC")})
)


@given(gross=amounts, buyer=buyers)
def test_inclusive_net_plus_tax_is_the_gross(gross, buyer):
    line = taxed(SELLER, buyer, gross, behavior="inclusive")
    assert line.net + line.tax == gross


@given(total=amounts, parts=st.lists(amounts, min_size=1, max_size=6))
def test_credit_notes_never_carry_more_tax_than_is_left(total, parts):
    tax_left = round(total * D("0.2"), 2)
    for part in parts:
        tax = credit_tax(amount=part, rate=D(20), tax_left=tax_left, currency="EUR")
        assert 0 <= tax <= tax_left
        tax_left -= tax
