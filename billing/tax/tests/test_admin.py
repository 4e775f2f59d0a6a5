"""Tax in the operations console: the settings row (change only, through the service), the
registrations (add and delete through the services), rate overrides that never overlap, the
customers' VAT numbers with "Check VAT numbers now", and the invoice's tax on its page."""

from datetime import UTC, date, datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from billing.models import BillingEvent
from billing.tax.engine import REVERSE_CHARGE_NOTE
from billing.tax.models import TaxRateOverride, TaxRegistration, TaxSettings
from billing.tax.services import tax_registration_create, tax_settings, tax_settings_update
from billing.tests.payment_helpers import open_invoice
from customers.models import Customer, TaxIdStatus
from customers.services import customer_create
from reports.tests.console_helpers import staff_user

pytestmark = pytest.mark.django_db

AT = datetime(2027, 3, 10, 12, tzinfo=UTC)
DE_VAT = "DE136695976"  # syntax and check digits right


def url(model: str, view: str, *args) -> str:
    return reverse(f"admin:billing_{model}_{view}", args=args)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


SETTINGS_FORM = {
    "legal_name": "Northwind Software Ltd",
    "address": "1 Grand Canal Square\r\nDublin 2",
    "email": "billing@northwind.example",
    "seller_country": "IE",
    "seller_region": "",
    "rounding": "line",
    "eu_oss": "on",
}


# Settings
def test_settings_are_one_row_changed_through_the_service(admin_client, admin_user):
    listing = admin_client.get(url("taxsettings", "changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1  # made on first use
    assert admin_client.get(url("taxsettings", "add")).status_code == 403
    assert admin_client.get(url("taxsettings", "delete", 1)).status_code == 403

    response = admin_client.post(url("taxsettings", "change", 1), SETTINGS_FORM)
    assert response.status_code == 302
    saved = TaxSettings.objects.get(pk=1)
    assert (saved.legal_name, saved.seller_country, saved.address) == (
        "Northwind Software Ltd",
        "IE",
        "1 Grand Canal Square\r\nDublin 2",
    )
    event = BillingEvent.objects.get(kind="tax.settings_updated")
    assert event.actor.startswith(f"user:{admin_user.pk}:")
    assert event.payload["seller_country"] == "IE"
    page = admin_client.get(url("taxsettings", "change", 1)).content.decode()
    assert url("taxregistration", "changelist") in page


def test_settings_errors_show_on_the_form(admin_client):
    form = {**SETTINGS_FORM, "seller_country": "XX", "seller_region": "Quebec"}
    response = admin_client.post(url("taxsettings", "change", 1), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"seller_country", "seller_region"} <= set(errors)
    assert not BillingEvent.objects.filter(kind="tax.settings_updated").exists()


def test_support_and_read_only_cannot_change_the_settings(client):
    tax_settings()
    client.force_login(staff_user("support"))
    response = client.post(url("taxsettings", "change", 1), SETTINGS_FORM)
    assert response.status_code in (302, 403)
    assert TaxSettings.objects.get(pk=1).legal_name == ""


# Registrations
def test_registrations_are_added_and_removed_through_the_services(admin_client):
    response = admin_client.post(
        url("taxregistration", "add"), {"country": "CA", "region": "QC", "number": "1234TQ0001"}
    )
    assert response.status_code == 302
    registration = TaxRegistration.objects.get()
    assert (registration.country, registration.region) == ("CA", "QC")
    assert BillingEvent.objects.filter(kind="tax.registration_added").count() == 1
    assert admin_client.post(
        url("taxregistration", "change", registration.pk), {"number": "x"}
    ).status_code in (302, 403)
    assert TaxRegistration.objects.get().number == "1234TQ0001"

    response = admin_client.post(url("taxregistration", "delete", registration.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not TaxRegistration.objects.exists()
    assert BillingEvent.objects.filter(kind="tax.registration_removed").count() == 1


def test_a_refused_registration_is_reported(admin_client):
    tax_registration_create(country="DE", at=AT)
    duplicate = admin_client.post(url("taxregistration", "add"), {"country": "DE"})
    assert duplicate.status_code == 200  # the form's unique check
    assert "already exists" in str(duplicate.context["adminform"].form.errors)

    response = admin_client.post(url("taxregistration", "add"), {"country": "FR", "region": "PA"})
    assert response.status_code == 302
    assert any("Only US and Canadian" in m for m in messages_of(response))
    assert list(TaxRegistration.objects.values_list("country", flat=True)) == ["DE"]


def test_registrations_are_deleted_in_bulk_through_the_service(admin_client):
    for country in ("DE", "FR"):
        tax_registration_create(country=country, at=AT)
    pks = list(TaxRegistration.objects.values_list("pk", flat=True))
    response = admin_client.post(
        url("taxregistration", "changelist"),
        {"action": "delete_selected", "_selected_action": pks, "post": "yes"},
    )
    assert response.status_code == 302
    assert not TaxRegistration.objects.exists()
    assert BillingEvent.objects.filter(kind="tax.registration_removed").count() == 2


# Rate overrides
def override_form(**values) -> dict:
    return {
        "jurisdiction": "DE",
        "name": "VAT",
        "rate": "16",
        "valid_from": "",
        "valid_to": "",
        "taxable_share": "1",
        "source": "https://www.bundesfinanzministerium.de/",
        **values,
    }


def add_override(admin_client, **values):
    return admin_client.post(url("taxrateoverride", "add"), override_form(**values))


@pytest.mark.parametrize(
    ("first", "second", "clash"),
    [
        (("2020-07-01", "2021-01-01"), ("2021-01-01", ""), False),  # back to back
        (("2020-07-01", "2021-01-01"), ("2020-01-01", "2020-07-01"), False),
        (("2020-07-01", "2021-01-01"), ("2020-12-31", ""), True),
        (("2020-07-01", "2021-01-01"), ("", "2020-07-02"), True),
        (("2020-07-01", ""), ("2030-01-01", ""), True),  # the first never ends
        (("", ""), ("2030-01-01", "2031-01-01"), True),
        (("2020-07-01", "2021-01-01"), ("2020-08-01", "2020-09-01"), True),  # inside
    ],
)
def test_overrides_of_one_tax_never_overlap(admin_client, first, second, clash):
    assert add_override(admin_client, valid_from=first[0], valid_to=first[1]).status_code == 302
    response = add_override(admin_client, valid_from=second[0], valid_to=second[1], rate="19")
    assert (response.status_code == 200) is clash
    assert TaxRateOverride.objects.count() == (1 if clash else 2)
    if clash:
        assert "in force on some of the same days" in str(
            response.context["adminform"].form.non_field_errors()
        )


def test_overrides_of_other_taxes_or_places_may_overlap_and_a_row_may_be_changed(admin_client):
    assert add_override(admin_client).status_code == 302
    assert add_override(admin_client, jurisdiction="AT").status_code == 302
    assert add_override(admin_client, jurisdiction="CA-QC", name="QST").status_code == 302
    override = TaxRateOverride.objects.get(jurisdiction="DE")
    response = admin_client.post(
        url("taxrateoverride", "change", override.pk), override_form(rate="15")
    )
    assert response.status_code == 302  # not a clash with itself
    assert TaxRateOverride.objects.get(pk=override.pk).rate == 15


def test_an_override_ends_after_it_starts(admin_client):
    response = add_override(admin_client, valid_from="2021-01-01", valid_to="2021-01-01")
    assert response.status_code == 200
    assert "valid_to" in response.context["adminform"].form.errors
    assert not TaxRateOverride.objects.exists()


# Customers' VAT numbers
@pytest.fixture
def customers(settings):
    settings.VAT_VALIDATION = "checksum"
    good = customer_create(
        external_id="berlin", name="Berlin GmbH", email="a@b.example", currency="EUR"
    )
    bad = customer_create(external_id="paris", name="Paris SA", email="p@b.example", currency="EUR")
    none = customer_create(
        external_id="none", name="No Number", email="n@b.example", currency="EUR"
    )
    Customer.objects.filter(pk=good.pk).update(tax_id="de 136 695 976", country="DE")
    Customer.objects.filter(pk=bad.pk).update(tax_id="FR00303265045", country="FR")
    return good, bad, none


def test_vat_numbers_are_listed_filtered_and_checked_now(admin_client, customers):
    good, bad, none = customers
    listing = url("customervatnumber", "changelist")
    assert admin_client.get(listing).context["cl"].result_count == 3
    assert admin_client.get(listing, {"has_number": "yes"}).context["cl"].result_count == 2
    response = admin_client.post(
        listing, {"action": "check_now", "_selected_action": [good.pk, bad.pk, none.pk]}
    )
    assert response.status_code == 302
    assert messages_of(response) == ["Checked 3 (valid: 1, invalid: 1, unverified: 1)."]
    good.refresh_from_db()
    assert (good.tax_id, good.tax_id_status) == (DE_VAT, TaxIdStatus.VALID)
    assert good.tax_id_evidence["source"] == "checksum"
    assert Customer.objects.get(pk=bad.pk).tax_id_status == TaxIdStatus.INVALID
    assert LogEntry.objects.count() == 3

    valid = admin_client.get(listing, {"tax_id_status__exact": "valid"})
    assert [c.pk for c in valid.context["cl"].result_list] == [good.pk]
    page = admin_client.get(url("customervatnumber", "change", good.pk)).content.decode()
    assert "&quot;source&quot;: &quot;checksum&quot;" in page
    assert 'name="_save"' not in page  # read-only: customers are edited on their own page
    assert admin_client.get(url("customervatnumber", "add")).status_code == 403


def test_finance_checks_vat_numbers_and_support_cannot(client, customers):
    good, _, _ = customers
    client.force_login(staff_user("support"))
    listing = url("customervatnumber", "changelist")
    client.post(listing, {"action": "check_now", "_selected_action": [good.pk]})
    assert Customer.objects.get(pk=good.pk).tax_id_status == TaxIdStatus.UNVERIFIED

    client.force_login(staff_user("finance"))
    client.post(listing, {"action": "check_now", "_selected_action": [good.pk]})
    assert Customer.objects.get(pk=good.pk).tax_id_status == TaxIdStatus.VALID


# The invoice's tax on its admin page
def test_the_invoice_page_shows_its_tax(admin_client, settings):
    settings.VAT_VALIDATION = "checksum"
    tax_settings_update(at=AT, seller_country="IE", legal_name="Northwind Software Ltd")
    tax_registration_create(country="IE", number="IE6388047V", at=AT)
    customer = customer_create(
        external_id="berlin",
        name="Berlin GmbH",
        email="a@b.example",
        currency="EUR",
        country="DE",
        tax_id=DE_VAT,
    )
    invoice = open_invoice(customer, amount="100.00", at=AT, description="Pro")
    assert invoice.tax_date == date(2027, 3, 10)
    page = admin_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    text = page.content.decode()
    for expected in [
        "<td>VAT</td><td>DE</td><td>0%</td><td>reverse_charge</td><td>100.00</td><td>0",
        REVERSE_CHARGE_NOTE,
        f'<div class="readonly">{DE_VAT}</div>',
        '<div class="readonly">10 Mar 2027</div>',  # the tax point
        "<div>Northwind Software Ltd</div>",
        "<div>IE: IE6388047V</div>",
        "<p>VAT DE 0% of 100.00: 0",  # the line's taxes
    ]:
        assert expected in text, expected
