"""API.md § Revenue and ledger, recognition over HTTP: "`GET /revenue/recognition/?from=YYYY-MM
&to=YYYY-MM&currency=&customer=` → `{currency, months: [{month: "2026-01", billed,
recognized, deferred_end}], total_recognized}` (amounts net of tax; `customer` optional, id
or external_id)", with "every invoice line is a performance obligation over its service
period, recognised daily (actual days, start inclusive, end exclusive) with cumulative
rounding ...; a credit note reverses what is still deferred first".

Invoices are booked by the reports' consumer in the worker, seconds after they are
finalized: the tests wait for them. The expected months are computed here from the invoice
line's period as the API answers it (the tests run on today's date), by the rule above: to
date = round(amount × days elapsed / days of the period), each month the difference; a line
billed after its period began recognises its earlier days in their own months (none is
closed here). Every answer is checked against the served schema."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error, declared

D = Decimal
KEYS = {"currency", "months", "total_recognized"}
MONTH_KEYS = {"month", "billed", "recognized", "deferred_end"}


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def shifted(key: str, months: int) -> str:
    year, month = map(int, key.split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def first_day(key: str) -> date:
    year, month = map(int, key.split("-"))
    return date(year, month, 1)


def day_of(moment: str) -> date:
    return datetime.fromisoformat(moment).astimezone(UTC).date()


def expected(amount: Decimal, start: date, end: date) -> dict[str, Decimal]:
    """Month -> what a line of `amount` over [start, end) recognises."""
    days = (end - start).days

    def to_date(day: date) -> Decimal:
        elapsed = min(max((day - start).days, 0), days)
        return (amount * elapsed / days).quantize(D("0.01"), rounding=ROUND_HALF_UP)

    months, key, before = {}, month_of(start), D("0.00")
    while first_day(key) < end:
        after = to_date(first_day(shifted(key, 1)))
        months[key] = after - before
        before, key = after, shifted(key, 1)
    return months


def recognition(api: h.Api, **params) -> dict:
    body = api.ok("GET", "revenue/recognition/", **params)
    declared(api, "GET", "revenue/recognition/", 200, body)
    assert set(body) == KEYS
    for row in body["months"]:
        assert set(row) == MONTH_KEYS
    return body


def window(first: str, last: str, **params) -> dict:
    return {"from": first, "to": last, **params}


def booked(api: h.Api, customer: str, month: str) -> dict:
    """The month's report of `customer` once the worker has booked its invoice."""
    return h.wait_for(
        lambda: (
            (r := recognition(api, **window(month, month, customer=customer)))["months"][0][
                "billed"
            ]
            != "0.00"
            and r
        ),
        what=f"the recognition of {customer}'s invoice",
    )


def yearly(api: h.Api, customer: str, amount: str = "1200.00", **subscription) -> dict:
    """A yearly plan of `amount` (USD), `customer` subscribed: its first invoice's line."""
    h.plan(api, "yearly", interval="year", amount=amount)
    h.customer(api, customer)
    h.subscribe(api, customer, "yearly", **subscription)
    (invoice,) = h.invoices_of(api, customer)
    (line,) = invoice["lines"]
    return {**line, "issued_at": invoice["issued_at"], "number": invoice["number"]}


def check_months(body: dict, amount: Decimal, months: dict[str, Decimal], billed_in: str):
    """Each month of `body` as `months` says: billed in `billed_in`, deferred rolled."""
    deferred = D("0.00")
    for row in body["months"]:
        billed = amount if row["month"] == billed_in else D("0.00")
        recognized = months.get(row["month"], D("0.00"))
        deferred += billed - recognized
        assert row == {
            "month": row["month"],
            "billed": str(billed),
            "recognized": str(recognized),
            "deferred_end": str(deferred),
        }


def test_a_yearly_invoice_is_recognised_daily_over_its_year(api, worker):
    """ "Every invoice line is a performance obligation over its service period,
    recognised daily (actual days, start inclusive, end exclusive) with cumulative
    rounding"."""
    line = yearly(api, "acme")
    start, end = day_of(line["period_start"]), day_of(line["period_end"])
    billed_in = month_of(day_of(line["issued_at"]))
    booked(api, "acme", billed_in)

    last = shifted(billed_in, 12)  # the period's last month, at the latest
    body = recognition(api, **window(billed_in, last, currency="USD", customer="acme"))
    assert body["currency"] == "USD"
    assert [row["month"] for row in body["months"]] == [shifted(billed_in, n) for n in range(13)]
    assert month_of(start) == billed_in
    months = expected(D("1200.00"), start, end)
    assert sum(months.values()) == D("1200.00")
    check_months(body, D("1200.00"), months, billed_in)
    assert body["total_recognized"] == "1200.00"
    assert body["months"][-1]["deferred_end"] == "0.00"

    # A later window opens with what was deferred before it.
    second = shifted(billed_in, 1)
    later = recognition(api, **window(second, second, customer="acme"))
    opening = D("1200.00") - months[billed_in]
    (row,) = later["months"]
    assert row["recognized"] == str(months[second])
    assert row["deferred_end"] == str(opening - months[second])
    assert later["total_recognized"] == str(months[second])
    # Before it was billed: nothing.
    before = recognition(api, **window(shifted(billed_in, -3), shifted(billed_in, -1)))
    assert {row["billed"] for row in before["months"]} == {"0.00"}
    assert {row["deferred_end"] for row in before["months"]} == {"0.00"}


def test_a_period_that_began_before_its_invoice_is_recognised_over_its_own_days(api, worker):
    """A subscription started in the past (`start_at` 2026-01-15) is billed its year now:
    the months of the year recognise their days, also those before the invoice (no month is
    closed), while the deferred balance is negative (recognised, not billed yet) until the
    month it is billed in. The contract's example: 55.89 in January, 92.06 in February."""
    line = yearly(api, "late", start_at="2026-01-15T00:00:00Z")
    start, end = day_of(line["period_start"]), day_of(line["period_end"])
    assert (start, end) == (date(2026, 1, 15), date(2027, 1, 15))
    billed_in = month_of(day_of(line["issued_at"]))
    booked(api, "late", billed_in)

    last = max("2027-01", billed_in)
    body = recognition(api, **window("2026-01", last, customer="late"))
    months = expected(D("1200.00"), start, end)
    check_months(body, D("1200.00"), months, billed_in)
    assert [row["recognized"] for row in body["months"][:2]] == ["55.89", "92.06"]
    assert body["months"][1]["deferred_end"] == ("-147.95" if billed_in > "2026-02" else "1052.05")
    assert body["total_recognized"] == "1200.00"


def test_a_credit_note_reverses_what_is_still_deferred_first(api, worker):
    """ "A credit note reverses what is still deferred first": 100.00 credited on the day
    the year is billed comes off deferred revenue; the 1,100.00 left is recognised over the
    year. Billed stays what was invoiced."""
    line = yearly(api, "acme")
    start, end = day_of(line["period_start"]), day_of(line["period_end"])
    billed_day = day_of(line["issued_at"])
    billed_in = month_of(billed_day)
    booked(api, "acme", billed_in)
    before = recognition(api, **window(billed_in, billed_in, customer="acme"))
    body = {"invoice": line["number"], "reason": "order_change"}
    body["lines"] = [{"line": line["id"], "amount": "100.00"}]
    note = api.ok("POST", "credit-notes/", body, 201)
    credited_on = day_of(note["created_at"])

    def reversed_() -> dict | None:
        report = recognition(api, **window(billed_in, shifted(billed_in, 12), customer="acme"))
        return report if report["months"][0] != before["months"][0] else None

    report = h.wait_for(reversed_, what="the credit note's reversal")
    assert report["months"][0]["billed"] == "1200.00"
    assert report["total_recognized"] == "1100.00"
    assert report["months"][-1]["deferred_end"] == "0.00"
    if credited_on == billed_day == start:  # the usual case: all on one day
        months = expected(D("1100.00"), start, end)
        first = report["months"][0]
        assert first["recognized"] == str(months[billed_in])
        assert first["deferred_end"] == str(D("1100.00") - months[billed_in])


def test_amounts_are_net_of_tax(api, worker):
    """ "amounts net of tax": a German consumer of an Irish seller pays 19 % VAT on
    120.00; 120.00 is billed and recognised, never the VAT."""
    api.ok("PATCH", "tax/settings/", {"seller_country": "IE"})
    api.ok("POST", "tax/registrations/", {"country": "IE", "number": "IE6388047V"}, 201)
    h.plan(api, "yearly-eur", currency="EUR", interval="year", amount="120.00")
    address = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}
    h.customer(api, "berlin", currency="EUR", country="DE", address=address)
    h.subscribe(api, "berlin", "yearly-eur")
    (invoice,) = h.invoices_of(api, "berlin")
    assert (invoice["subtotal"], invoice["tax"]) == ("120.00", "22.80")
    billed_in = month_of(day_of(invoice["issued_at"]))
    report = booked(api, "berlin", billed_in)
    assert report["currency"] == "EUR"  # the customer's currency by default
    assert report["months"][0]["billed"] == "120.00"
    whole = recognition(api, **window(billed_in, shifted(billed_in, 12), customer="berlin"))
    assert whole["total_recognized"] == "120.00"


def test_one_customer_by_id_or_external_id_and_one_currency(api, worker):
    """ "`customer` optional, id or external_id"; one currency at a time."""
    line = yearly(api, "acme")
    h.customer(api, "globex")
    h.subscribe(api, "globex", "yearly")
    billed_in = month_of(day_of(line["issued_at"]))
    booked(api, "acme", billed_in)
    booked(api, "globex", billed_in)
    acme = api.ok("GET", "customers/acme/")

    month = window(billed_in, billed_in)
    by_code = recognition(api, **month, customer="acme")
    assert recognition(api, **month, customer=str(acme["id"])) == by_code
    assert by_code["months"][0]["billed"] == "1200.00"
    globex = recognition(api, **month, customer="globex")
    everyone = recognition(api, **month, currency="USD")
    assert everyone["months"][0]["billed"] == "2400.00"
    for key in ("recognized", "deferred_end"):
        both = D(by_code["months"][0][key]) + D(globex["months"][0][key])
        assert everyone["months"][0][key] == str(both)
    assert D(everyone["total_recognized"]) == D(by_code["total_recognized"]) + D(
        globex["total_recognized"]
    )
    euros = recognition(api, **month, currency="EUR")
    assert euros["currency"] == "EUR"
    assert euros["months"] == [
        {"month": billed_in, "billed": "0.00", "recognized": "0.00", "deferred_end": "0.00"}
    ]
    assert euros["total_recognized"] == "0.00"


def test_defaults_are_the_twelve_months_through_this_one(api):
    """No parameter: the twelve months ending with the current month (UTC, the books'
    zone), in the default currency; only `from`: twelve months from it."""
    body = recognition(api)
    this_month = month_of(datetime.now(UTC).date())
    assert [row["month"] for row in body["months"]] == [
        shifted(this_month, n) for n in range(-11, 1)
    ]
    assert len(body["currency"]) == 3
    assert body["total_recognized"] in {"0.00", "0", "0.000"}
    only_to = recognition(api, to="2026-06")
    assert [row["month"] for row in only_to["months"]][0] == "2025-07"
    only_from = recognition(api, **{"from": this_month})
    assert [row["month"] for row in only_from["months"]] == [this_month]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13"}, "from"),
        ({"from": "2026-1"}, "from"),
        ({"from": "2026-01-15"}, "from"),
        ({"from": "January"}, "from"),
        ({"to": "2026-00"}, "to"),
        ({"from": "2026-03", "to": "2026-02"}, "to"),
        ({"from": "2016-01", "to": "2026-01"}, "to"),  # 121 months
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"customer": "nobody"}, "customer"),
    ],
)
def test_bad_parameters_are_refused_naming_them(api, params, field):
    """400 `invalid_request` naming the parameter: a month not YYYY-MM, `to` before `from`,
    a range over 120 months, an unknown currency or customer."""
    response = api.get("revenue/recognition/", **params)
    assert_error(response, 400, "invalid_request", field)
    declared(api, "GET", "revenue/recognition/", 400, response.json())


def test_the_longest_range_is_120_months(api):
    body = recognition(api, **window("2016-02", "2026-01"))
    assert len(body["months"]) == 120


def test_the_report_needs_a_key(anonymous, reader):
    """ "No key → 401"; reading needs only the `read` scope."""
    assert_error(anonymous.get("revenue/recognition/"), 401, "authentication")
    assert reader.ok("GET", "revenue/recognition/", **window("2026-01", "2026-01"))["months"]
