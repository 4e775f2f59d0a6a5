"""The customer's payment terms and invoice delivery through the API (fields added to the
contract's customer: null terms = the default ones, delivery email unless portal)."""

import pytest

from customers.models import Customer

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"
BODY = {"external_id": "acme-42", "name": "Acme", "email": "b@acme.example", "currency": "EUR"}


def test_defaults_then_set_and_back_to_the_default(api):
    created = api.post(URL, BODY, format="json").json()
    assert (created["payment_terms_days"], created["invoice_delivery"]) == (None, "email")
    response = api.patch(
        f"{URL}acme-42/", {"payment_terms_days": 30, "invoice_delivery": "portal"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["payment_terms_days"], response.json()["invoice_delivery"]) == (
        30,
        "portal",
    )
    response = api.patch(f"{URL}acme-42/", {"payment_terms_days": None}, format="json")
    assert response.json()["payment_terms_days"] is None
    assert Customer.objects.get().payment_terms_days is None


def test_created_with_terms(api):
    body = {**BODY, "payment_terms_days": 0, "invoice_delivery": "portal"}
    created = api.post(URL, body, format="json").json()
    assert (created["payment_terms_days"], created["invoice_delivery"]) == (0, "portal")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payment_terms_days": -1}, "payment_terms_days"),
        ({"payment_terms_days": 5000}, "payment_terms_days"),
        ({"invoice_delivery": "fax"}, "invoice_delivery"),
    ],
)
def test_refused_values(api, change, field):
    response = api.post(URL, {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert not Customer.objects.exists()
