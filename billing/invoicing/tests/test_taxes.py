"""Tax on real invoices, with worked numbers: the engine applied to lines, coupons, totals,
finalization on the tax point, credit notes, and drafts held while VIES is asked."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.errors import StateError
from billing.invoicing.models.invoices import Invoice, InvoiceLine, LineKind
from billing.invoicing.services import bill_runs
from billing.invoicing.services.credits import credit_note_issue
from billing.invoicing.services.discounts import coupon_create, discount_apply
from billing.invoicing.services.invoices import invoice_create, invoice_finalize
from billing.tax import services as tax_services
from billing.tax.engine import REVERSE_CHARGE_NOTE
from billing.tax.models import TaxSettings
from billing.tax.services import customer_tax_id_vies, tax_registration_create
from billing.tax.tests.vies_stub import ViesStub, server_error, valid_answer
from billing.tax.vat_numbers import ViesClient
from billing.tests import factories
from customers.models import Customer
from customers.services import customer_create, customer_update

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
D = Decimal


def seller(country, *registrations, eu_oss=True, rounding="line"):
    TaxSettings.objects.update_or_create(
        pk=1, defaults={"seller_country": country, "eu_oss": eu_oss, "rounding": rounding}
    )
    with transaction.atomic():
        for place in registrations:
            country_code, _, region = place.partition("-")
            tax_registration_create(country=country_code, region=region, number="X1", at=AT)


def buyer(name="buyer", *, country, state="", currency="EUR", tax_id="", **kwargs) -> Customer:
    return customer_create(
        external_id=name,
        name=name.title(),
        email=f"{name}@example.com",
        currency=currency,
        country=country,
        tax_id=tax_id,
        address={"country": country, "state": state},
        **kwargs,
    )


def one_time(customer, *amounts, code="", behavior="") -> list[InvoiceLine]:
    return [
        InvoiceLine(
            customer=customer,
            currency=customer.currency,
            kind=LineKind.ONE_TIME,
            description=f"Item {i}",
            unit_amount=D(a),
            amount=D(a),
            tax_code=code,
            tax_behavior=behavior,
        )
        for i, a in enumerate(amounts)
    ]


def invoice_of(customer, *amounts, at=AT, **kwargs) -> Invoice:
    with transaction.atomic():
        invoice = invoice_create(
            customer=customer,
            currency=customer.currency,
            lines=one_time(customer, *amounts, **kwargs),
            at=at,
        )
    return invoice_finalize(invoice=invoice, at=at)


def rows(invoice):
    return [
        (t["name"], t["jurisdiction"], t["rate"], t["reason"], t["amount"]) for t in invoice.taxes
    ]


def test_german_consumer_under_oss_pays_german_vat():
    seller("IE", "IE")
    invoice = invoice_of(buyer(country="DE"), "100.00")
    assert invoice.tax == D("19.00")
    assert invoice.total == D("119.00")
    assert rows(invoice) == [("VAT", "DE", "19", "standard", "19.00")]
    line = invoice.lines.get()
    assert (line.tax_rate, line.tax_amount) == (D("19"), D("19.00"))
    assert line.taxes[0]["taxable_amount"] == "100.00"
    assert invoice.tax_date.isoformat() == "2026-03-10"


def test_under_the_oss_threshold_the_home_rate_applies():
    seller("IE", "IE", eu_oss=False)
    invoice = invoice_of(buyer(country="DE"), "100.00")
    assert invoice.tax == D("23.00")
    assert rows(invoice) == [("VAT", "IE", "23", "standard", "23.00")]


def test_eu_business_abroad_is_reverse_charged_with_the_statement():
    seller("IE", "IE")
    customer = buyer(country="FR", tax_id="fr 40 303 265 045")
    assert customer.tax_id == "FR40303265045"
    assert customer.tax_id_status == "valid"
    invoice = invoice_of(customer, "360.00")
    assert invoice.tax == 0
    assert invoice.total == D("360.00")
    assert rows(invoice) == [("VAT", "FR", "0", "reverse_charge", "0.00")]
    assert invoice.tax_notes == [REVERSE_CHARGE_NOTE]
    assert invoice.buyer_tax_id == "FR40303265045"
    assert invoice.seller_details["tax_numbers"] == [{"jurisdiction": "IE", "number": "X1"}]


def test_business_in_the_sellers_country_pays_the_home_rate():
    seller("IE", "IE")
    invoice = invoice_of(buyer(country="IE", tax_id="IE6388047V"), "100.00")
    assert invoice.tax == D("23.00")
    assert invoice.tax_notes == []


def test_without_a_registration_nothing_is_collected():
    seller("GB", "GB")
    invoice = invoice_of(buyer(country="US", state="TX", currency="USD"), "100.00")
    assert invoice.tax == 0
    assert rows(invoice) == [("sales_tax", "US-TX", "0", "not_collecting", "0.00")]


def test_texas_taxes_80_percent_of_saas():
    seller("US", "US-TX")
    invoice = invoice_of(buyer(country="US", state="tx", currency="USD"), "100.00")
    line = invoice.lines.get()
    assert line.taxes[0]["taxable_amount"] == "80.00"
    assert invoice.tax == D("5.00")  # 6.25% of 80.00


def test_uk_line_and_invoice_rounding():
    seller("GB", "GB")
    per_line = invoice_of(buyer("a", country="GB", currency="GBP"), "33.33", "33.33", "33.33")
    assert per_line.tax == D("20.01")
    TaxSettings.objects.filter(pk=1).update(rounding="invoice")
    per_rate = invoice_of(buyer("b", country="GB", currency="GBP"), "33.33", "33.33", "33.33")
    assert per_rate.tax == D("20.00")
    assert per_rate.total == D("119.99")
    assert [ln.tax_amount for ln in per_rate.lines.all()] == [D("6.67")] * 3


def test_exclusive_and_inclusive_prices():
    seller("DK", "DK")
    exclusive = invoice_of(buyer("a", country="DK", currency="DKK"), "193.33")
    assert (exclusive.subtotal, exclusive.tax) == (D("193.33"), D("48.33"))
    inclusive = invoice_of(buyer("b", country="DK", currency="DKK"), "193.33", behavior="inclusive")
    line = inclusive.lines.get()
    assert (line.amount, line.tax_amount) == (D("154.66"), D("38.67"))
    assert inclusive.total == D("193.33")


def test_quebec_has_two_lines_of_tax():
    seller("CA", "CA", "CA-QC")
    invoice = invoice_of(buyer(country="CA", state="QC", currency="CAD"), "100.00")
    assert rows(invoice) == [
        ("GST", "CA-QC", "5", "standard", "5.00"),
        ("QST", "CA-QC", "9.975", "standard", "9.98"),
    ]
    assert invoice.tax == D("14.98")
    assert invoice.lines.get().tax_rate == D("14.975")


def test_exempt_customer_and_exempt_code():
    seller("IE", "IE")
    exempt = invoice_of(buyer("a", country="IE", tax_exempt="exempt"), "100.00")
    assert exempt.tax == 0
    assert rows(exempt) == [("VAT", "IE", "0", "exempt", "0.00")]
    coded = invoice_of(buyer("b", country="IE"), "100.00", "50.00", code="exempt")
    assert coded.tax == 0
    assert coded.taxes[0]["taxable_amount"] == "150.00"


def test_minor_units_of_jpy_and_kwd():
    seller("IE", "IE")
    assert invoice_of(buyer("a", country="DE", currency="JPY"), "1001").tax == D("190")
    assert invoice_of(buyer("b", country="DE", currency="KWD"), "10.005").tax == D("1.901")


def test_coupon_reduces_the_taxable_amount():
    seller("IE", "IE")
    customer = buyer(country="DE")
    plan = factories.plan(code="std", amount="100.00", currency="EUR")
    with transaction.atomic():
        coupon = coupon_create(
            code="TEN", name="Ten", kind="percent", percent_off=D(10), duration="forever", at=AT
        )
        discount_apply(customer=customer, coupon=coupon, at=AT)
    factories.subscription(customer=customer, plan=plan, at=AT)
    invoice = Invoice.objects.get(customer=customer)
    assert (invoice.subtotal, invoice.discount) == (D("100.00"), D("10.00"))
    assert invoice.tax == D("17.10")
    assert invoice.total == D("107.10")
    assert invoice.taxes == [
        {
            "name": "VAT",
            "jurisdiction": "DE",
            "rate": "19",
            "reason": "standard",
            "taxable_amount": "90.00",
            "amount": "17.10",
        }
    ]


def test_inclusive_plan_and_rate_change_between_draft_and_tax_point(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 48
    seller("RO", "RO")  # 19% until 2025-07-31, 21% from 2025-08-01
    customer = buyer(country="RO", currency="RON")
    plan = factories.plan(code="ro", amount="119.00", currency="RON", tax_behavior="inclusive")
    with transaction.atomic():
        invoice = invoice_create(
            customer=customer,
            currency="RON",
            lines=[
                InvoiceLine(
                    customer=customer,
                    currency="RON",
                    kind=LineKind.SUBSCRIPTION,
                    description="x",
                    subscription=factories.subscription(
                        customer=customer, plan=plan, at=datetime(2025, 7, 1, tzinfo=UTC)
                    ),
                    unit_amount=D("119.00"),
                    amount=D("119.00"),
                )
            ],
            at=datetime(2025, 7, 31, 12, tzinfo=UTC),
        )
    line = invoice.lines.get()
    assert (line.amount, line.tax_amount, invoice.tax_date.isoformat()) == (
        D("100.00"),
        D("19.00"),
        "2025-07-31",
    )
    invoice = invoice_finalize(invoice=invoice, at=datetime(2025, 8, 1, 9, tzinfo=UTC))
    line.refresh_from_db()
    assert (line.amount, line.tax_amount, line.tax_rate) == (D("98.35"), D("20.65"), D("21"))
    assert invoice.total == D("119.00")
    assert invoice.tax_date.isoformat() == "2025-08-01"


def test_credit_note_carries_tax_in_proportion():
    seller("HR", "HR")  # 25%
    invoice = invoice_of(buyer(country="HR"), "100.00")
    line = invoice.lines.get()
    with transaction.atomic():
        first = credit_note_issue(
            invoice=invoice,
            at=AT,
            reason="other",
            lines=[{"invoice_line": line.pk, "amount": D("25.00")}],
        )
    assert (first.total, first.subtotal, first.tax) == (D("25.00"), D("20.00"), D("5.00"))
    assert first.taxes == [
        {
            "name": "VAT",
            "jurisdiction": "HR",
            "rate": "25",
            "reason": "standard",
            "taxable_amount": "20.00",
            "amount": "5.00",
        }
    ]
    with transaction.atomic():
        rest = credit_note_issue(invoice=invoice, at=AT, reason="other")
    assert (rest.total, rest.tax) == (D("100.00"), D("20.00"))
    assert rest.taxes[0]["amount"] == "20.00"
    assert rest.taxes[0]["taxable_amount"] == "80.00"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=5),
    gross=st.integers(min_value=1, max_value=20000),
)
def test_credit_notes_never_give_back_more_tax_than_left(parts, gross):
    """Property: however an invoice is credited, the notes' tax never exceeds its tax, and
    crediting everything gives back exactly its tax."""
    with transaction.atomic():
        sid = transaction.savepoint()
        seller("GB", "GB")
        customer = buyer(f"p{len(parts)}-{gross}", country="GB", currency="GBP")
        invoice = invoice_of(customer, str(D(gross) / 100), behavior="inclusive")
        line = invoice.lines.get()
        left = invoice.total
        credited_tax = D(0)
        for part in parts:
            amount = min(D(part) / 100, left)
            if amount <= 0:
                break
            note = credit_note_issue(
                invoice=invoice,
                at=AT,
                reason="other",
                lines=[{"invoice_line": line.pk, "amount": amount}],
            )
            credited_tax += note.tax
            left -= amount
            assert credited_tax <= invoice.tax
        if left > 0:
            credited_tax += credit_note_issue(invoice=invoice, at=AT, reason="other").tax
        assert credited_tax == invoice.tax
        assert line.amount + line.tax_amount == D(gross) / 100  # inclusive: net + tax = gross
        transaction.savepoint_rollback(sid)


def test_pending_vies_check_holds_drafts_until_answered(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.VAT_VALIDATION = "vies"
    seller("IE", "IE")
    queued = []
    settings.INVOICE_DRAFT_GRACE_HOURS = 0
    monkeypatch.setattr(tax_services, "async_task", lambda *a, **k: queued.append((a, k)))
    with django_capture_on_commit_callbacks(execute=True):
        customer = buyer(country="FR", tax_id="FR40303265045")
    assert customer.tax_id_status == "pending"
    assert queued
    plan = factories.plan(code="std", amount="100.00", currency="EUR")
    factories.subscription(customer=customer, plan=plan, at=AT)
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.status == "draft"  # held, not taxed as a consumer
    with pytest.raises(StateError) as refused:
        invoice_finalize(invoice=invoice, at=AT)
    assert refused.value.code == "tax_id_pending"
    assert bill_runs.drafts_finalize_due(at=timezone.now()) == 0
    with ViesStub() as stub:
        stub.script(server_error(503))
        client = ViesClient(base_url=stub.base_url, retries=0, sleep=lambda s: None)
        assert customer_tax_id_vies(customer_id=customer.pk, at=AT, client=client) == "pending"
        stub.script(valid_answer("FR", "40303265045", name="ACME SA"))
        assert customer_tax_id_vies(customer_id=customer.pk, at=AT, client=client) == "valid"
    customer.refresh_from_db()
    assert customer.tax_id_evidence["source"] == "vies"
    assert customer.tax_id_evidence["name"] == "ACME SA"
    assert bill_runs.drafts_finalize_due(at=timezone.now()) == 1
    invoice.refresh_from_db()
    assert invoice.status != "draft"
    assert invoice.tax_notes == [REVERSE_CHARGE_NOTE]


def test_changing_the_vat_number_checks_it_again():
    customer = buyer(country="DE", tax_id="DE136695976")
    assert customer.tax_id_status == "valid"
    with transaction.atomic():
        customer = customer_update(customer=customer, tax_id="DE000000000")
    customer.refresh_from_db()
    assert customer.tax_id_status == "invalid"
    assert customer.tax_id_evidence["detail"] == "bad format or check digits"


def test_coupon_over_lines_at_two_rates_takes_back_each_rate_in_proportion():
    seller("IE", "IE")
    customer = buyer(country="DE")
    with transaction.atomic():
        coupon = coupon_create(
            code="TEN", name="Ten", kind="percent", percent_off=D(10), duration="forever", at=AT
        )
        discount_apply(customer=customer, coupon=coupon, at=AT)
        lines = one_time(customer, "100.00") + one_time(customer, "100.00", code="exempt")
        invoice = invoice_create(customer=customer, currency="EUR", lines=lines, at=AT)
    invoice = invoice_finalize(invoice=invoice, at=AT)
    discount = invoice.lines.get(kind="credit")
    assert discount.amount == D("-20.00")
    assert discount.tax_amount == D("-1.90")
    assert discount.tax_rate == D("9.5")
    assert invoice.tax == D("17.10")
    assert invoice.total == D("197.10")
    assert {(t["reason"], t["taxable_amount"], t["amount"]) for t in invoice.taxes} == {
        ("standard", "90.00", "17.10"),
        ("exempt", "90.00", "0.00"),
    }


def test_a_number_of_a_country_without_a_check_is_kept_as_given():
    customer = buyer(country="US", state="NY", currency="USD", tax_id="US-12-3456789")
    customer.refresh_from_db()
    assert customer.tax_id == "US-12-3456789"
    assert customer.tax_id_status == "unverified"
