import logging
import socket
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import requests

from billing.tax.calculators import (
    BuiltinCalculator,
    Sale,
    TaxableLine,
    TaxEngineError,
    calculator,
)
from billing.tax.engine import (
    REVERSE_CHARGE_NOTE,
    REVERSE_CHARGE_NOTE_OTHER,
    Buyer,
    LineTax,
    Seller,
    TaxAmount,
)
from billing.tax.services import TaxSetup
from billing.tax.stripe_tax import (
    StripeTaxCalculator,
    from_stripe_minor,
    stripe_tax_id,
    to_stripe_minor,
)
from billing.tax.tests.stripe_tax_stub import (
    StripeTaxStub,
    StubResponse,
    breakdown,
    calculated,
    error_answer,
    line,
    page,
    server_error,
    slow,
)

KEY = "sk_test_51StubSecretKeyDoNotLog"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ON = date(2026, 3, 2)
TAX_DATE = str(int(datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()))
SETUP = TaxSetup(
    seller=Seller(
        country="DE",
        registrations=frozenset({("DE", ""), ("CA", ""), ("CA", "QC"), ("US", "WA")}),
    )
)


@pytest.fixture
def stub():
    with StripeTaxStub() as server:
        yield server


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def session():
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment for 127.0.0.1
    yield session
    session.close()


@pytest.fixture
def calc(stub, sleeps, session):
    return StripeTaxCalculator(
        base_url=stub.base_url, key=KEY, timeout=0.5, session=session, sleep=sleeps.append,
        now=lambda: NOW,
    )  # fmt: skip


def sale(buyer: Buyer, currency: str = "EUR", **kwargs) -> Sale:
    return Sale(setup=SETUP, buyer=buyer, currency=currency, on=ON, **kwargs)


def saas(amount: str, reference: str = "0", behavior: str = "exclusive") -> TaxableLine:
    return TaxableLine(Decimal(amount), "saas", behavior, reference)


def vat(amount: int, taxable: int, country: str, rate: str) -> dict:
    return breakdown(amount, taxable, country=country, rate=rate, rate_name="VAT")


def shown(answers: list[LineTax]) -> list[tuple]:
    """What an invoice shows of the lines (Stripe answers rounded amounts only)."""
    return [
        (
            a.net,
            [(t.name, t.jurisdiction, t.rate, t.taxable_amount, t.rounded) for t in a.taxes],
            a.reason,
            a.note,
            a.jurisdiction,
        )
        for a in answers
    ]


def builtin(sale: Sale, lines: list[TaxableLine]) -> list[tuple]:
    return shown(BuiltinCalculator().calculate(sale, lines))


DE_CONSUMER = Buyer(country="DE")


# The request


def test_german_consumer_pays_19_percent_vat(stub, calc):
    stub.script(calculated(line("0", 10000, 1900, [vat(1900, 10000, "DE", "19.0")])))

    (answer,) = calc.calculate(sale(DE_CONSUMER, postal_code="10115"), [saas("100.00")])

    assert answer == LineTax(
        net=Decimal("100.00"),
        taxes=(
            TaxAmount(
                name="VAT",
                jurisdiction="DE",
                rate=Decimal("19.0"),
                taxable_amount=Decimal("100.00"),
                amount=Decimal("19.00"),
                rounded=Decimal("19.00"),
                reason="standard",
            ),
        ),
        reason="standard",
        jurisdiction="DE",
    )
    # the same answer as the built-in engine's for this sale
    assert shown([answer]) == builtin(sale(DE_CONSUMER), [saas("100.00")])
    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/tax/calculations")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form == [
        ("currency", "eur"),
        ("tax_date", TAX_DATE),
        ("line_items[0][amount]", "10000"),
        ("line_items[0][reference]", "0"),
        ("line_items[0][tax_behavior]", "exclusive"),
        ("line_items[0][tax_code]", "txcd_10103001"),
        ("customer_details[address][country]", "DE"),
        ("customer_details[address][postal_code]", "10115"),
        ("customer_details[address_source]", "billing"),
        ("expand[]", "line_items"),
        ("expand[]", "line_items.data.tax_breakdown"),
    ]


def test_the_key_goes_in_a_bearer_header(stub, calc):
    stub.script(calculated(line("0", 10000, 1900, [vat(1900, 10000, "DE", "19.0")])))

    calc.calculate(sale(DE_CONSUMER), [saas("100.00")])

    (request,) = stub.requests
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in str(request.form)
    assert KEY not in str(request.query)


@pytest.mark.parametrize(
    ("code", "stripe_code"),
    [
        ("saas", "txcd_10103001"),
        ("digital", "txcd_10000000"),
        ("services", "txcd_20030000"),
        ("exempt", "txcd_00000000"),
    ],
)
def test_tax_codes_are_stripes(stub, calc, code, stripe_code):
    stub.script(calculated(line("0", 1000, 0, [])))

    calc.calculate(sale(DE_CONSUMER), [TaxableLine(Decimal("10"), code, "exclusive", "0")])

    assert stub.requests[0].field("line_items[0][tax_code]") == stripe_code


# Reverse charge and exemptions


def test_eu_business_sends_its_vat_number_and_gets_the_reverse_charge(stub, calc):
    answer = [breakdown(0, 0, country="FR", rate="0.0", reason="reverse_charge")]
    stub.script(calculated(line("0", 10000, 0, answer)))
    buyer = Buyer(country="FR", business=True)

    (answer,) = calc.calculate(sale(buyer, tax_id="FR40303265045"), [saas("100.00")])

    assert answer == LineTax(
        net=Decimal("100.00"), reason="reverse_charge", note=REVERSE_CHARGE_NOTE, jurisdiction="FR"
    )
    request = stub.requests[0]
    assert request.field("customer_details[tax_ids][0][type]") == "eu_vat"
    assert request.field("customer_details[tax_ids][0][value]") == "FR40303265045"
    assert request.field("customer_details[taxability_override]") is None


def test_a_forced_reverse_charge_outside_the_eu_gets_the_other_note(stub, calc):
    # Stripe may give no rate details where no tax is imposed
    answer = [breakdown(0, 0, country="CH", reason="reverse_charge")]
    stub.script(calculated(line("0", 10000, 0, answer), currency="chf"))
    buyer = Buyer(country="CH", business=True, tax_exempt="reverse")

    (answer,) = calc.calculate(sale(buyer, currency="CHF"), [saas("100.00")])

    assert (answer.reason, answer.note, answer.taxes) == (
        "reverse_charge",
        REVERSE_CHARGE_NOTE_OTHER,
        (),
    )
    assert stub.requests[0].field("customer_details[taxability_override]") == "reverse_charge"
    assert stub.requests[0].field("customer_details[tax_ids][0][type]") is None


def test_an_exempt_customer_is_sent_as_customer_exempt(stub, calc):
    answer = [breakdown(0, 0, country="US", state="WA", level="state", reason="customer_exempt")]
    stub.script(calculated(line("0", 10000, 0, answer), currency="usd"))
    buyer = Buyer(country="US", region="WA", tax_exempt="exempt")

    (answer,) = calc.calculate(sale(buyer, currency="USD"), [saas("100.00")])

    assert answer == LineTax(net=Decimal("100.00"), reason="exempt", jurisdiction="US-WA")
    assert stub.requests[0].field("customer_details[taxability_override]") == "customer_exempt"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("DE280857971", ("eu_vat", "DE280857971")),
        ("EL094259216", ("eu_vat", "EL094259216")),
        ("XI123456782", ("eu_vat", "XI123456782")),
        ("GB980780684", ("gb_vat", "GB980780684")),
        ("AU51824753556", ("au_abn", "51824753556")),
        ("CA123456789RT0001", ("ca_gst_hst", "123456789RT0001")),
        ("CA123456789", ("ca_bn", "123456789")),
        ("IN27AAPFU0939F1ZV", ("in_gst", "27AAPFU0939F1ZV")),
        ("US123456789", None),
    ],
)
def test_tax_id_types(number, expected):
    assert stripe_tax_id(number) == expected


# Components, jurisdictions, behaviours, currencies


def test_quebec_sale_has_gst_and_qst(stub, calc):
    entries = [
        breakdown(500, 10000, country="CA", rate="5.0", tax_type="gst", rate_name="GST"),
        breakdown(
            998, 10000, country="CA", state="QC", level="state", rate="9.975", tax_type="qst"
        ),
    ]
    stub.script(calculated(line("0", 10000, 1498, entries), currency="cad"))
    buyer = Buyer(country="CA", region="QC")

    (answer,) = calc.calculate(sale(buyer, currency="CAD", postal_code="H2X 1Y4"), [saas("100")])

    assert [(t.name, t.jurisdiction, t.rate, t.rounded) for t in answer.taxes] == [
        ("GST", "CA-QC", Decimal("5.0"), Decimal("5.00")),
        ("QST", "CA-QC", Decimal("9.975"), Decimal("9.98")),
    ]
    assert (answer.tax, answer.rate, answer.jurisdiction) == (
        Decimal("14.98"),
        Decimal("14.975"),
        "CA-QC",
    )
    assert shown([answer]) == builtin(sale(buyer, currency="CAD"), [saas("100")])
    request = stub.requests[0]
    assert request.field("currency") == "cad"
    assert request.field("customer_details[address][state]") == "QC"
    assert request.field("customer_details[address][postal_code]") == "H2X 1Y4"


def test_us_local_taxes_keep_the_state_and_skip_what_is_not_imposed(stub, calc):
    # Stripe's Standalone Tax API guide: Seattle, WA
    entries = [
        breakdown(65, 1000, country="US", state="WA", level="state", rate="6.5",
                  tax_type="sales_tax"),
        breakdown(0, 0, country="US", state="WA", level="county", display_name="KING",
                  reason="not_subject_to_tax"),
        breakdown(22, 1000, country="US", state="WA", level="city", rate="2.2",
                  tax_type="sales_tax"),
        breakdown(14, 1000, country="US", state="WA", level="district", rate="1.4",
                  tax_type="sales_tax"),
        breakdown(2, 1000, country="US", state="WA", level="district", rate="0.15",
                  tax_type="sales_tax"),
    ]  # fmt: skip
    stub.script(calculated(line("0", 1000, 103, entries, tax_code="txcd_10000000"), currency="usd"))
    buyer = Buyer(country="US", region="WA")

    (answer,) = calc.calculate(sale(buyer, currency="USD", postal_code="98104"), [saas("10")])

    assert answer.reason == "standard"
    assert {(t.name, t.jurisdiction) for t in answer.taxes} == {("sales_tax", "US-WA")}
    assert [t.rate for t in answer.taxes] == [Decimal(r) for r in ("6.5", "2.2", "1.4", "0.15")]
    assert (answer.net, answer.tax) == (Decimal("10.00"), Decimal("1.03"))


def test_inclusive_line_net_is_the_amount_less_its_tax(stub, calc):
    # Stripe's guide: 100 EUR tax included in Ireland (23%): amount_tax 1870, taxable 8130
    entries = [vat(1870, 8130, "IE", "23.0")]
    stub.script(calculated(line("0", 10000, 1870, entries, behavior="inclusive")))
    buyer = Buyer(country="IE")

    (answer,) = calc.calculate(sale(buyer), [saas("100.00", behavior="inclusive")])

    assert (answer.net, answer.tax) == (Decimal("81.30"), Decimal("18.70"))
    assert answer.taxes[0].taxable_amount == Decimal("81.30")
    assert stub.requests[0].field("line_items[0][amount]") == "10000"  # the gross
    assert stub.requests[0].field("line_items[0][tax_behavior]") == "inclusive"
    assert shown([answer]) == builtin(sale(buyer), [saas("100.00", behavior="inclusive")])


def test_jpy_amounts_have_no_minor_unit(stub, calc):
    entries = [breakdown(1000, 10000, country="JP", rate="10.0", tax_type="jct")]
    stub.script(calculated(line("0", 10000, 1000, entries), currency="jpy"))

    (answer,) = calc.calculate(sale(Buyer(country="JP"), currency="JPY"), [saas("10000")])

    assert stub.requests[0].field("currency") == "jpy"
    assert stub.requests[0].field("line_items[0][amount]") == "10000"
    assert (answer.net, answer.tax, answer.taxes[0].name) == (
        Decimal("10000"),
        Decimal("1000"),
        "JCT",
    )


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("10000", "JPY", 10000),
        ("12.345", "KWD", 12345),  # thousandths, sent exactly
        ("500", "ISK", 50000),  # Stripe: ISK keeps two decimals in the API
        ("0.005", "EUR", 1),  # rounded half-up to the cent first
    ],
)
def test_minor_units_follow_stripe(amount, currency, minor):
    assert to_stripe_minor(Decimal(amount), currency) == minor
    assert from_stripe_minor(minor, currency, "amount") == to_decimal(amount, currency)


def to_decimal(amount: str, currency: str) -> Decimal:
    from catalog.money import round_money

    return round_money(Decimal(amount), currency)


def test_lines_come_back_in_request_order_across_pages(stub, calc):
    entries = [vat(190, 1000, "DE", "19.0")]
    stub.script(
        calculated(line("b", 1000, 190, entries), has_more=True),
        page(line("a", 2000, 380, [vat(380, 2000, "DE", "19.0")])),
    )

    answers = calc.calculate(sale(DE_CONSUMER), [saas("20", "a"), saas("10", "b")])

    assert [a.net for a in answers] == [Decimal("20.00"), Decimal("10.00")]
    follow = stub.requests[1]
    assert (follow.method, follow.path) == (
        "GET",
        "/v1/tax/calculations/taxcalc_1PStubStripeTax0001/line_items",
    )
    assert ("starting_after", "tax_li_b") in follow.query
    assert ("expand[]", "data.tax_breakdown") in follow.query
    assert follow.headers["Authorization"] == f"Bearer {KEY}"


# Failures


def test_stripe_400_raises_with_its_message(stub, calc):
    stub.script(
        error_answer(
            400,
            "Invalid value for eu_vat.",
            code="tax_id_invalid",
            param="customer_details[tax_ids][0][value]",
        )
    )
    buyer = Buyer(country="IE", business=True)

    with pytest.raises(TaxEngineError) as caught:
        calc.calculate(sale(buyer, tax_id="IE6388047V"), [saas("100")])

    message = str(caught.value)
    assert "Invalid value for eu_vat." in message
    assert "400" in message
    assert "tax_id_invalid" in message
    assert "customer_details[tax_ids][0][value]" in message
    assert len(stub.requests) == 1  # a refusal is not retried


def test_the_key_is_never_in_the_error_text_or_the_log(stub, calc, caplog):
    stub.script(
        server_error(503),
        error_answer(401, f"Invalid API Key provided: {KEY}", kind="invalid_request_error"),
    )

    with caplog.at_level(logging.DEBUG), pytest.raises(TaxEngineError) as caught:
        calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert "401" in str(caught.value)
    assert "Invalid API Key provided" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text
    assert "retrying" in caplog.text


def test_500_then_200_is_retried_once(stub, calc, sleeps):
    stub.script(
        server_error(500), calculated(line("0", 10000, 1900, [vat(1900, 10000, "DE", "19.0")]))
    )

    (answer,) = calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert answer.tax == Decimal("19.00")
    assert len(stub.requests) == 2
    assert stub.requests[0].form == stub.requests[1].form
    assert sleeps == [0.5]


def test_two_500s_raise(stub, calc, sleeps):
    stub.script(server_error(502))

    with pytest.raises(TaxEngineError, match="unavailable.*502"):
        calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert len(stub.requests) == 2


def test_429_honours_a_short_retry_after(stub, calc, sleeps):
    answer = calculated(line("0", 10000, 1900, [vat(1900, 10000, "DE", "19.0")]))
    stub.script(server_error(429, {"Retry-After": "1"}), answer)

    calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert sleeps == [1.0]
    assert len(stub.requests) == 2


def test_429_with_a_long_retry_after_fails_now(stub, calc, sleeps):
    stub.script(server_error(429, {"Retry-After": "60"}))

    with pytest.raises(TaxEngineError, match="429"):
        calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert sleeps == []
    assert len(stub.requests) == 1


def test_a_timeout_raises_without_waiting_twice(stub, calc):
    answer = calculated(line("0", 10000, 1900, [vat(1900, 10000, "DE", "19.0")]))
    stub.script(slow(answer, 5))

    started = time.monotonic()
    with pytest.raises(TaxEngineError, match=r"did not answer within 0\.5 s"):
        calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert time.monotonic() - started < 2
    assert len(stub.requests) == 1


def test_connection_refused_is_retried_once_then_raises(sleeps, session):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    calc = StripeTaxCalculator(
        base_url=f"http://127.0.0.1:{port}", key=KEY, timeout=0.5, session=session,
        sleep=sleeps.append, now=lambda: NOW,
    )  # fmt: skip

    with pytest.raises(TaxEngineError, match="unreachable") as caught:
        calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert sleeps == [0.5]
    assert KEY not in str(caught.value)


def with_string_amount() -> StubResponse:
    answer = calculated(line("0", 10000, 0, []))
    answer.body["line_items"]["data"][0]["amount"] = "100.00"
    return answer


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (StubResponse(200, "<html>Bad gateway</html>"), "without JSON"),
        (StubResponse(200, {"id": "taxcalc_1", "object": "tax.calculation"}), "without line_items"),
        (calculated(line("7", 10000, 0, [])), r"no line item for references \['0'\]"),
        (calculated(line("0", 10000, 1900, [])), "adds up to 0, not its amount_tax 19.00"),
        (with_string_amount(), "non-integer amount"),
        (calculated(line("0", 10000, 0, ["19%"])), "malformed calculation"),
    ],
)
def test_unusable_answers_raise(stub, calc, answer, match):
    stub.script(answer)

    with pytest.raises(TaxEngineError, match=match):
        calc.calculate(sale(DE_CONSUMER), [saas("100")])


def test_a_missing_key_raises_before_calling(stub, calc):
    calc.key = ""

    with pytest.raises(TaxEngineError, match="TAX_ENGINE_KEY"):
        calc.calculate(sale(DE_CONSUMER), [saas("100")])

    assert stub.requests == []


def test_a_tax_point_beyond_48_hours_raises_before_calling(stub, calc):
    late = Sale(setup=SETUP, buyer=DE_CONSUMER, currency="EUR", on=date(2026, 2, 20))

    with pytest.raises(TaxEngineError, match="over 48 h away"):
        calc.calculate(late, [saas("100")])

    assert stub.requests == []


def test_no_lines_no_call(stub, calc):
    assert calc.calculate(sale(DE_CONSUMER), []) == []
    assert stub.requests == []


# Configuration


def test_settings_pick_the_stripe_calculator(settings, stub, session):
    settings.TAX_ENGINE = "stripe_tax"
    settings.TAX_ENGINE_URL = stub.base_url + "/"
    settings.TAX_ENGINE_KEY = KEY
    settings.TAX_ENGINE_TIMEOUT = 3.5

    chosen = calculator()

    assert isinstance(chosen, StripeTaxCalculator)
    assert (chosen.base_url, chosen.key, chosen.timeout) == (stub.base_url, KEY, 3.5)
