"""The admin header's search box (reports/search.py): each kind of key finds its customer,
invoice or payment, exact matches first; staff see only what they may view."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from billing.models import BankTransfer
from billing.tests import factories
from billing.tests.payment_helpers import open_invoice
from portal.tests.test_csp import assert_no_inline
from reports.search import LIMIT, staff_search
from reports.tests.console_helpers import AT, GROUPS, payment, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def found():
    acme = factories.customer(external_id="acme-7")
    acme.name, acme.email = "Acme Rockets Ltd", "billing@acme.test"
    acme.save(update_fields=["name", "email"])
    other = factories.customer(external_id="globex")
    invoice = open_invoice(acme, amount="25.00", at=AT)
    card = payment(acme, invoice=invoice, amount="25.00")
    card.gateway_reference = "pi_3Pz9XYZ"
    card.save(update_fields=["gateway_reference"])
    wire = payment(acme, amount="10.00", at=AT + timedelta(days=1))
    BankTransfer.objects.create(
        bank_reference="BANK-2026-0042",
        amount=Decimal("10.00"),
        currency="USD",
        received_at=AT,
        customer=acme,
        payment=wire,
        status="matched",
    )
    return {"acme": acme, "other": other, "invoice": invoice, "card": card, "wire": wire}


@pytest.fixture
def superuser():
    return get_user_model().objects.create_superuser("root", "root@example.com", "x")


def search(user, query):
    return staff_search(query=query, user=user)


@pytest.mark.parametrize(
    "key",
    [
        "acme-7",  # external id, exact
        "ACME-7",  # any case
        "Acme Rockets Ltd",  # name
        "rockets",  # part of the name, any case
        "billing@acme.test",  # email
        "BILLING@ACME.TEST",
    ],
)
def test_customer_keys_find_the_customer(superuser, found, key):
    results = search(superuser, key)
    assert results.customers[0] == found["acme"]
    assert found["other"] not in results.customers


def test_invoice_number_and_payment_reference(superuser, found):
    invoice = found["invoice"]
    number = invoice.number  # "INV-2026-000001"
    spaced_reference = " ".join(
        invoice.payment_reference[i : i + 4] for i in range(0, len(invoice.payment_reference), 4)
    )
    for key in (number, number.lower(), number.replace("-", " "), spaced_reference):
        results = search(superuser, key)
        assert results.invoices == [invoice], key
        assert results.customers == [found["acme"]], key  # the invoice's customer


def test_payment_references_find_the_payment_and_its_customer(superuser, found):
    results = search(superuser, "pi_3Pz9XYZ")
    assert results.payments == [found["card"]]
    assert results.customers == [found["acme"]]
    results = search(superuser, "BANK-2026-0042")  # a bank transfer's reference
    assert results.payments == [found["wire"]]
    assert results.customers == [found["acme"]]
    assert search(superuser, "3pz9").payments == [found["card"]]  # part of it, any case


def test_nothing_and_short_queries(superuser, found):
    assert search(superuser, "").empty
    assert search(superuser, "   ").empty
    assert search(superuser, "zz").empty  # too short for "contains", and no exact match
    assert search(superuser, "no such thing").empty


def test_results_are_limited(superuser):
    for n in range(LIMIT + 3):
        factories.customer(external_id=f"many-{n:02d}")
    assert len(search(superuser, "many-").customers) == LIMIT


def test_exact_matches_come_first(superuser):
    for external_id in ("acme-70", "acme-71", "acme"):
        factories.customer(external_id=external_id)
    assert search(superuser, "acme").customers[0].external_id == "acme"


def test_staff_see_only_what_they_may_view(found):
    invoices_only = staff_user(None, name="inv", perms=("billing.view_invoice",))
    results = search(invoices_only, found["invoice"].number)
    assert results.searched == ["invoices"]
    assert results.invoices == [found["invoice"]]
    assert results.customers == []  # may not view customers, even through the invoice
    assert results.payments == []
    nobody = staff_user(None, name="nobody")
    assert search(nobody, "acme-7").searched == []
    assert search(nobody, "acme-7").empty


def page(client, query):
    return client.get(reverse("reports:search"), {"q": query})


def test_the_page_links_to_the_360_and_the_rows(client, found):
    client.force_login(staff_user("support"))
    response = page(client, "pi_3Pz9XYZ")
    assert response.status_code == 200
    html = response.content.decode()
    acme, invoice = found["acme"], found["invoice"]
    assert reverse("reports:customer_360", args=[acme.pk]) in html
    assert reverse("admin:customers_customer_change", args=[acme.pk]) in html
    assert reverse("admin:billing_payment_change", args=[found["card"].pk]) in html
    page_invoice = page(client, invoice.number).content.decode()
    assert reverse("admin:billing_invoice_change", args=[invoice.pk]) in page_invoice
    assert "25.00 USD" in page_invoice
    assert_no_inline(response)  # Content-Security-Policy


@pytest.mark.parametrize("group", GROUPS)
def test_every_staff_group_may_search(client, found, group):
    client.force_login(staff_user(group))
    response = page(client, "acme-7")
    assert response.status_code == 200
    assert "Acme Rockets Ltd" in response.content.decode()


def test_no_leak_without_permission(client, found):
    client.force_login(staff_user(None, name="bare"))
    response = page(client, "acme-7")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme Rockets Ltd" not in html
    assert "You may not view customers, invoices or payments." in html


def test_not_for_anonymous_or_non_staff(found):
    anonymous = Client()
    response = page(anonymous, "acme-7")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    customer_user = get_user_model().objects.create_user("cust", password="x")  # not staff
    signed_in = Client()
    signed_in.force_login(customer_user)
    assert page(signed_in, "acme-7").status_code == 302


def test_the_header_has_the_search_box(client, found):
    client.force_login(staff_user("read-only"))
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="staff-search"' in html
    assert f'action="{reverse("reports:search")}"' in html
    signed_out = Client().get(reverse("admin:login")).content.decode()
    assert 'id="staff-search"' not in signed_out
