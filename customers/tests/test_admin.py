import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse

from customers.models import Customer, CustomerUser
from customers.services import customer_archive, customer_create

pytestmark = pytest.mark.django_db
# Notice: a read-only log (no add page), tested in billing/notices/tests/test_admin.py.
CUSTOMER_MODELS = [
    m
    for m in admin.site._registry
    if m._meta.app_label == "customers" and m._meta.model_name != "notice"
]


@pytest.fixture
def customer(db):
    return customer_create(
        external_id="acme",
        name="Acme",
        email="billing@acme.test",
        currency="USD",
        country="DE",
        tax_id="DE123",
    )


def url(view, *args):
    return reverse(f"admin:customers_customer_{view}", args=args)


def inline_management(prefix):
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def customer_form(**overrides):
    data = {
        "external_id": "globex",
        "name": "Globex",
        "email": "ap@globex.test",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "country": "FR",
        "tax_id": "",
        "tax_exempt": "none",
        "address_line1": "",
        "address_line2": "",
        "address_city": "",
        "address_postal_code": "",
        "address_state": "",
        "address_country": "",
        "metadata": "{}",
    }
    data.update(inline_management("contacts"))
    data.update(inline_management("users"))
    data.update(overrides)
    return data


@pytest.mark.parametrize("model", CUSTOMER_MODELS)
def test_changelist_search_and_add_pages(admin_client, customer, model):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client.get(changelist, {"q": "x"}).status_code == 200
    assert (
        admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code
        == 200
    )


@pytest.mark.parametrize("term", ["acme", "Acme", "billing@acme", "DE123"])
def test_search_fields(admin_client, customer, term):
    assert admin_client.get(url("changelist"), {"q": term}).context["cl"].result_count == 1


def test_change_page_with_inlines(admin_client, customer):
    user = get_user_model().objects.create_user("jo@acme.test")
    CustomerUser.objects.create(customer=customer, user=user, role="admin")
    page = admin_client.get(url("change", customer.pk)).content.decode()
    for heading in ("Identity", "Billing settings", "Address", "Metadata", "jo@acme.test"):
        assert heading in page


def test_add_customer_with_a_contact(admin_client):
    data = customer_form()
    data.update(
        {
            "contacts-TOTAL_FORMS": "1",
            "contacts-0-name": "Ann",
            "contacts-0-email": "ann@globex.test",
            "contacts-0-role": "billing",
            "contacts-0-receives_invoices": "on",
        }
    )
    response = admin_client.post(url("add"), data)
    assert response.status_code == 302, response.context["errors"]
    customer = Customer.objects.get(external_id="globex")
    assert customer.contacts.get().email == "ann@globex.test"
    assert customer.archived_at is None


def test_invalid_currency_is_refused(admin_client):
    response = admin_client.post(url("add"), customer_form(currency="ABC"))
    assert response.status_code == 200
    assert "currency" in response.context["adminform"].form.errors
    assert not Customer.objects.filter(external_id="globex").exists()


def test_archive_and_unarchive_actions(admin_client, customer):
    response = admin_client.post(
        url("changelist"), {"action": "archive_selected", "_selected_action": [customer.pk]}
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.archived_at is not None
    assert any("Archived 1" in str(m) for m in get_messages(response.wsgi_request))

    listing = admin_client.get(url("changelist"), {"archived": "yes"})
    assert listing.context["cl"].result_count == 1
    assert admin_client.get(url("changelist"), {"archived": "no"}).context["cl"].result_count == 0

    response = admin_client.post(
        url("changelist"), {"action": "unarchive_selected", "_selected_action": [customer.pk]}
    )
    customer.refresh_from_db()
    assert customer.archived_at is None


def test_archived_at_is_read_only_and_archived_customer_is_frozen(admin_client, customer):
    response = admin_client.post(
        url("change", customer.pk),
        customer_form(external_id="acme", name="Renamed", archived_at="2020-01-01 00:00"),
    )
    assert response.status_code == 302, response.context["errors"]
    customer.refresh_from_db()
    assert (customer.name, customer.archived_at) == ("Renamed", None)

    customer_archive(customer=customer, at=customer.created_at)
    response = admin_client.post(
        url("change", customer.pk), customer_form(external_id="acme", name="Again")
    )
    customer.refresh_from_db()
    assert customer.name == "Renamed"


def test_delete_is_not_offered(admin_client, customer):
    assert admin_client.get(url("delete", customer.pk)).status_code == 403
    actions = admin_client.get(url("changelist")).context["action_form"].fields["action"]
    assert "delete_selected" not in dict(actions.choices)
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_a_vat_number_saved_in_the_admin_is_checked(admin_client):
    response = admin_client.post(
        reverse("admin:customers_customer_add"),
        customer_form(tax_id="fr 40 303 265 045"),
    )
    assert response.status_code == 302
    customer = Customer.objects.get(external_id="globex")
    assert customer.tax_id == "FR40303265045"
    assert customer.tax_id_status == "valid"
    response = admin_client.post(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        customer_form(tax_id="FR00000000000"),
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.tax_id_status == "invalid"
