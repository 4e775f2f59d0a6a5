"""Reads of the MRR history: MRR/ARR at an instant, movements and rates per month (checked
against the pure movements code on generated histories), the month-end series, and the two
API endpoints (`GET /revenue/mrr/`, `GET /revenue/mrr/movements/`)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.tests import factories
from catalog.money import round_money
from reports.metrics.models import MrrSegment
from reports.metrics.movements import CustomerSeries, mrr_movements, mrr_rates
from reports.metrics.selectors import (
    MAX_MONTHS,
    month_boundaries,
    mrr_at,
    mrr_movements_report,
    mrr_series,
)

pytestmark = pytest.mark.django_db
D = Decimal
DAY = timedelta(days=1)
DEC = datetime(2025, 12, 1, tzinfo=UTC)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)


class Book:
    """Customers and subscriptions to hang hand-made segments on (the history is written
    directly here; test_history.py builds it from billing's services)."""

    def __init__(self):
        self.plan = factories.plan("pro", amount="1.00")
        self.customers: dict[str, object] = {}
        self.subs: dict[tuple[str, int], object] = {}

    def customer(self, name: str, currency: str = "USD"):
        if name not in self.customers:
            self.customers[name] = factories.customer(name, currency=currency)
        return self.customers[name]

    def sub(self, name: str, slot: int = 0):
        if (name, slot) not in self.subs:
            self.subs[(name, slot)] = factories.subscription(
                customer=self.customer(name), plan=self.plan, at=DEC
            )
        return self.subs[(name, slot)]

    def segment(self, name, start, end, mrr, *, slot=0, churn="", currency="USD"):
        sub = self.sub(name, slot)
        return MrrSegment.objects.create(
            subscription=sub,
            customer=sub.customer,
            currency=currency,
            start=start,
            end=end,
            mrr=D(mrr),
            churn=churn,
        )


@pytest.fixture
def book():
    built = Book()
    MrrSegment.objects.all().delete()
    return built


def months_of(report) -> dict:
    return {m["month"]: m for m in report["months"]}


# -- MRR at an instant ---------------------------------------------------------------------


def test_mrr_is_rounded_once_on_the_total_and_arr_is_twelve_unrounded_mrr(
    book, django_assert_num_queries
):
    for slot in range(3):
        book.segment("acme", JAN, None, "33.3333333333", slot=slot)
    with django_assert_num_queries(1):
        figures = mrr_at(at=JAN, currency="USD")
    assert figures == {"mrr": D("100.00"), "arr": D("1200.00"), "subscriptions": 3}
    book.segment("big", JAN, None, "166.6666666667")  # 2,000 a year
    assert mrr_at(at=JAN, currency="USD", customer=book.customer("big")) == {
        "mrr": D("166.67"),
        "arr": D("2000.00"),
        "subscriptions": 1,
    }


def test_mrr_at_counts_segments_from_their_start_until_before_their_end(book):
    book.segment("acme", JAN, FEB, "30")
    book.segment("acme", FEB, None, "50")
    book.segment("euro", JAN, None, "7", currency="EUR")
    assert mrr_at(at=JAN - timedelta(microseconds=1), currency="USD")["mrr"] == D("0.00")
    assert mrr_at(at=JAN, currency="USD")["mrr"] == D("30.00")
    assert mrr_at(at=FEB - timedelta(microseconds=1), currency="USD")["mrr"] == D("30.00")
    assert mrr_at(at=FEB, currency="USD") == {
        "mrr": D("50.00"),
        "arr": D("600.00"),
        "subscriptions": 1,
    }
    assert mrr_at(at=FEB, currency="EUR")["mrr"] == D("7.00")
    assert mrr_at(at=FEB, currency="JPY") == {"mrr": D("0"), "arr": D("0"), "subscriptions": 0}


# -- Movements -----------------------------------------------------------------------------


def test_each_movement_of_a_month_and_the_rates(book):
    # Paying since December: stays, expands, contracts (one of two subscriptions ends),
    # churns voluntarily, churns by dunning.
    book.segment("stays", DEC, None, "100")
    book.segment("grows", DEC, JAN + 9 * DAY, "50")
    book.segment("grows", JAN + 9 * DAY, None, "80")
    book.segment("shrinks", DEC, None, "40")
    book.segment("shrinks", DEC, JAN + 4 * DAY, "20", slot=1, churn="voluntary")
    book.segment("leaves", DEC, JAN + 19 * DAY, "30", churn="voluntary")
    book.segment("unpaid", DEC, JAN + 20 * DAY, "10", churn="involuntary")
    # January: a new customer, a former one back, one in and out within the month.
    book.segment("joins", JAN + 14 * DAY, None, "25")
    book.segment("back", DEC - 40 * DAY, DEC - 10 * DAY, "60", churn="voluntary")
    book.segment("back", JAN + 2 * DAY, None, "45")
    book.segment("blip", JAN + 2 * DAY, JAN + 5 * DAY, "999", churn="voluntary")
    with CaptureQueriesContext(connection) as queries:
        report = mrr_movements_report(first="2026-01", last="2026-01", currency="USD")
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("WITH", "SELECT"))]
    assert len(reads) == 1  # (on PostgreSQL in a transaction that sets two planner settings)
    (january,) = report["months"]
    assert report["currency"] == "USD"
    assert {key: january[key] for key in ("month", "start", "end")} == {
        "month": "2026-01",
        "start": D("250.00"),  # 100 + 50 + 60 + 30 + 10
        "end": D("290.00"),  # 100 + 80 + 40 + 25 + 45
    }
    assert {
        key: january[key]
        for key in (
            "new",
            "expansion",
            "contraction",
            "churn",
            "reactivation",
            "voluntary_churn",
            "involuntary_churn",
        )
    } == {
        "new": D("25.00"),
        "expansion": D("30.00"),
        "contraction": D("20.00"),
        "churn": D("40.00"),
        "reactivation": D("45.00"),
        "voluntary_churn": D("30.00"),
        "involuntary_churn": D("10.00"),
    }
    assert (january["customers_at_start"], january["customers_at_end"]) == (5, 5)
    assert (january["new_customers"], january["reactivated_customers"]) == (1, 1)
    assert january["churned_customers"] == 2
    assert report["rates"] == {
        "customer_churn": D("0.4000"),  # 2 of 5
        "gross_mrr_churn": D("0.2400"),  # (40 + 20) / 250
        "net_mrr_churn": D("-0.0600"),  # (40 + 20 - 30 - 45) / 250
        "nrr": D("0.8800"),  # (250 - 40 - 20 + 30) / 250
        "grr": D("0.7600"),  # (250 - 40 - 20) / 250
    }
    end = january["start"] + january["new"] + january["expansion"] + january["reactivation"]
    assert january["end"] == end - january["contraction"] - january["churn"]


def test_a_subscription_ending_at_midnight_on_the_first_churns_in_that_month(book):
    book.segment("period-end", DEC, FEB, "30", churn="voluntary")  # cancelled at period end
    book.segment("starts", FEB, None, "20")
    report = months_of(mrr_movements_report(first="2026-01", last="2026-02", currency="USD"))
    assert (report["2026-01"]["end"], report["2026-01"]["churn"]) == (D("30.00"), D("0.00"))
    assert (report["2026-02"]["churn"], report["2026-02"]["new"]) == (D("30.00"), D("20.00"))


def test_the_rates_are_null_without_mrr_at_the_start(book):
    book.segment("joins", JAN + DAY, None, "10")
    report = mrr_movements_report(first="2026-01", last="2026-02", currency="USD")
    assert report["rates"] == dict.fromkeys(
        ("customer_churn", "gross_mrr_churn", "net_mrr_churn", "nrr", "grr")
    )
    assert months_of(report)["2026-01"]["new"] == D("10.00")


def test_one_customer_and_one_currency(book):
    book.segment("acme", DEC, JAN + DAY, "30", churn="voluntary")
    book.segment("other", DEC, JAN + DAY, "70", churn="voluntary")
    book.segment("euro", DEC, None, "5", currency="EUR")
    acme = mrr_movements_report(
        first="2026-01", last="2026-01", currency="USD", customer=book.customer("acme")
    )
    assert (acme["months"][0]["start"], acme["months"][0]["churn"]) == (D("30.00"), D("30.00"))
    euro = mrr_movements_report(first="2026-01", last="2026-01", currency="EUR")
    assert (euro["months"][0]["start"], euro["months"][0]["end"]) == (D("5.00"), D("5.00"))
    assert euro["months"][0]["customers_at_start"] == 1


def test_ranges_are_checked():
    with pytest.raises(ValueError, match="before"):
        mrr_movements_report(first="2026-03", last="2026-01", currency="USD")
    with pytest.raises(ValueError, match="YYYY-MM"):
        mrr_movements_report(first="2026-1", last="2026-01", currency="USD")
    with pytest.raises(ValueError, match="months"):
        mrr_movements_report(first="2000-01", last="2020-01", currency="USD")
    assert MAX_MONTHS >= 24


def test_the_series_gives_month_end_mrr_and_arr(book):
    book.segment("acme", DEC, FEB + 9 * DAY, "10")
    book.segment("acme", FEB + 9 * DAY, None, "15")
    series = mrr_series(first="2026-01", last="2026-03", currency="USD")
    assert [(m["month"], m["mrr"], m["arr"], m["expansion"]) for m in series] == [
        ("2026-01", D("10.00"), D("120.00"), D("0.00")),
        ("2026-02", D("15.00"), D("180.00"), D("5.00")),
        ("2026-03", D("15.00"), D("180.00"), D("0.00")),
    ]


# -- Property: the SQL aggregation equals the pure code on every customer ------------------

MONTHS = ["2026-01", "2026-02", "2026-03"]
BOUNDS = month_boundaries(MONTHS)
AMOUNTS = st.sampled_from(
    ["10", "19.99", "33.3333333333", "0.005", "166.6666666667", "50", "100", "0.0049999999"]
)
SEGMENT = st.tuples(
    st.integers(-70, 120),  # start: days after January 1
    st.one_of(st.none(), st.integers(0, 120)),  # length in days (None: open)
    AMOUNTS,
    st.sampled_from(["", "voluntary", "involuntary"]),
)
# Per customer, per subscription slot, segments in time order (they never overlap).
HISTORIES = st.lists(st.lists(st.lists(SEGMENT, max_size=3), min_size=1, max_size=2), max_size=6)


def _written(book, histories) -> list[tuple[str, list[tuple]]]:
    """Write the generated histories; per customer its segments (start, end, mrr, churn)."""
    written = []
    for index, slots in enumerate(histories):
        name = f"c{index}"
        mine = []
        for slot, segments in enumerate(slots):
            moment = None
            for start_day, length, amount, churn in sorted(segments, key=lambda s: s[0]):
                start = JAN + start_day * DAY
                if moment is not None and start < moment:
                    start = moment
                end = None if length is None else start + (length + 1) * DAY
                book.segment(name, start, end, amount, slot=slot, churn=churn if end else "")
                mine.append((start, end, D(amount), churn if end else ""))
                if end is None:
                    break
                moment = end
        written.append((name, mine))
    # Customers who pay the same all along (summed in SQL, not one by one).
    for index in range(3):
        book.segment(f"steady{index}", JAN - 90 * DAY, None, "29.99")
        written.append((f"steady{index}", [(JAN - 90 * DAY, None, D("29.99"), "")]))
    return written


def _reference(book, written) -> tuple[list, object]:
    """The movements and rates of the pure code, every customer one by one."""
    series = []
    for name, segments in written:
        values = [
            sum(
                (m for s, e, m, _ in segments if s < bound and (e is None or e >= bound)),
                D(0),
            )
            for bound in BOUNDS
        ]
        first = min((s for s, _, _, _ in segments), default=None)
        cents = [round_money(value, "USD") for value in values]
        rise = next((i for i in range(1, 4) if cents[i - 1] == 0 and cents[i] > 0), None)
        involuntary = {
            month
            for month, low, high in zip(MONTHS, BOUNDS, BOUNDS[1:], strict=False)
            if any(
                c == "involuntary" and e is not None and low <= e < high for _, e, _, c in segments
            )
        }
        series.append(
            CustomerSeries(
                customer=str(book.customer(name).pk),
                month_end_mrr=dict(zip(MONTHS, values[1:], strict=True)),
                opening_mrr=values[0],
                paid_before=first is not None and first < BOUNDS[(rise or 1) - 1],
                involuntary_churn_months=frozenset(involuntary),
            )
        )
    return mrr_movements(series, MONTHS, "USD"), mrr_rates(series, MONTHS, "USD")


@pytest.fixture
def pool():
    """Customers and subscriptions made once for every generated example."""
    built = Book()
    for index in range(6):
        for slot in range(2):
            built.sub(f"c{index}", slot)
    for index in range(3):
        built.sub(f"steady{index}")
    MrrSegment.objects.all().delete()
    return built


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories=HISTORIES)
def test_movements_equal_the_pure_code_customer_by_customer(pool, histories):
    with transaction.atomic():
        written = _written(pool, histories)
        report = mrr_movements_report(first=MONTHS[0], last=MONTHS[-1], currency="USD")
        movements, rates = _reference(pool, written)
        assert report["months"] == [m.__dict__ for m in movements]
        assert report["rates"] == rates.__dict__
        for month in report["months"]:
            assert month["end"] == (
                month["start"]
                + month["new"]
                + month["expansion"]
                + month["reactivation"]
                - month["contraction"]
                - month["churn"]
            )
        transaction.set_rollback(True)


# -- API -----------------------------------------------------------------------------------


def test_get_mrr(api, book):
    book.segment("acme", JAN, None, "166.6666666667")
    book.customer("euro", currency="EUR")
    book.segment("euro", JAN, None, "9", currency="EUR")
    body = api.get("/api/v1/revenue/mrr/", {"at": "2026-01-15T00:00:00Z"}).json()
    assert body == {
        "at": "2026-01-15T00:00:00Z",
        "currency": "USD",
        "mrr": "166.67",
        "arr": "2000.00",
        "subscriptions": 1,
    }
    now = api.get("/api/v1/revenue/mrr/").json()  # now, the default currency
    assert (now["mrr"], now["currency"]) == ("166.67", django_settings.DEFAULT_CURRENCY)
    euro = book.customer("euro", currency="EUR")
    for ref in ("euro", str(euro.pk)):  # the customer's currency by default
        body = api.get("/api/v1/revenue/mrr/", {"customer": ref}).json()
        assert (body["currency"], body["mrr"], body["arr"]) == ("EUR", "9.00", "108.00")
    body = api.get("/api/v1/revenue/mrr/", {"customer": "euro", "currency": "USD"}).json()
    assert (body["mrr"], body["subscriptions"]) == ("0.00", 0)


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"customer": "nobody"}, "customer", "does_not_exist"),
        ({"currency": "XYZ"}, "currency", "invalid_currency"),
        ({"at": "yesterday"}, "at", "invalid"),
    ],
)
def test_get_mrr_names_the_wrong_parameter(api, params, field, code):
    response = api.get("/api/v1/revenue/mrr/", params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)


def test_get_mrr_movements(api, book):
    book.segment("acme", DEC, FEB + 9 * DAY, "30", churn="voluntary")
    book.segment("beta", JAN + 4 * DAY, None, "19.99")
    body = api.get("/api/v1/revenue/mrr/movements/", {"from": "2026-01", "to": "2026-02"}).json()
    zero = "0.00"
    assert body == {
        "currency": "USD",
        "months": [
            {
                "month": "2026-01",
                "start": "30.00",
                "new": "19.99",
                "expansion": zero,
                "contraction": zero,
                "churn": zero,
                "reactivation": zero,
                "end": "49.99",
                "voluntary_churn": zero,
                "involuntary_churn": zero,
            },
            {
                "month": "2026-02",
                "start": "49.99",
                "new": zero,
                "expansion": zero,
                "contraction": zero,
                "churn": "30.00",
                "reactivation": zero,
                "end": "19.99",
                "voluntary_churn": "30.00",
                "involuntary_churn": zero,
            },
        ],
        "rates": {
            "customer_churn": "1.0000",
            "gross_mrr_churn": "1.0000",
            "net_mrr_churn": "1.0000",  # new is not in it
            "nrr": "0.0000",
            "grr": "0.0000",
        },
    }
    empty = api.get("/api/v1/revenue/mrr/movements/", {"from": "2020-01", "to": "2020-01"})
    assert empty.json()["rates"]["nrr"] is None


def test_get_mrr_movements_defaults_to_the_last_twelve_months(api, read_only_api):
    body = read_only_api.get("/api/v1/revenue/mrr/movements/").json()
    assert len(body["months"]) == 12
    now = datetime.now(UTC)
    assert body["months"][-1]["month"] == f"{now.year:04d}-{now.month:02d}"
    one = api.get("/api/v1/revenue/mrr/movements/", {"from": "2026-03", "to": "2026-03"})
    assert [m["month"] for m in one.json()["months"]] == ["2026-03"]
    early = api.get("/api/v1/revenue/mrr/movements/", {"to": "0001-03"}).json()
    assert [m["month"] for m in early["months"]] == ["0001-01", "0001-02", "0001-03"]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"from": "2026-13"}, "from", "invalid"),
        ({"to": "26-01"}, "to", "invalid"),
        ({"from": "2026-03", "to": "2026-01"}, "to", "invalid_range"),
        ({"from": "2000-01", "to": "2026-01"}, "to", "range_too_long"),
        ({"to": "0000-01"}, "to", "out_of_range"),
        ({"from": "2026-01", "to": "9999-12"}, "to", "out_of_range"),
        ({"currency": "usd"}, "currency", "invalid_currency"),
        ({"customer": "nobody"}, "customer", "does_not_exist"),
    ],
)
def test_get_mrr_movements_names_the_wrong_parameter(api, params, field, code):
    response = api.get("/api/v1/revenue/mrr/movements/", params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)


def test_the_endpoints_need_an_api_key(client):
    for path in ("/api/v1/revenue/mrr/", "/api/v1/revenue/mrr/movements/"):
        assert client.get(path).status_code == 401
