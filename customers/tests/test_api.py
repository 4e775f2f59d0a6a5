import pytest

from customers.models import Customer

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"
BODY = {
    "external_id": "acme-42",
    "name": "Acme",
    "email": "billing@acme.example",
    "currency": "EUR",
    "timezone": "Europe/Berlin",
    "country": "DE",
    "tax_id": "DE123456789",
    "address": {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
}


def test_create_and_address_by_external_id_or_id(api):
    created = api.post(URL, BODY, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["address"]["city"] == "Berlin"
    assert body["timezone"] == "Europe/Berlin"
    assert api.get(f"{URL}acme-42/").json() == body
    assert api.get(f"{URL}{body['id']}/").json() == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"currency": "usd1"}, "currency"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"country": "XX"}, "country"),
        ({"country": "DEU"}, "country"),
        ({"address": {"country": "ZZ"}}, "address.country"),
        ({"address": {"planet": "Earth"}}, "address.planet"),
        ({"nickname": "Ace"}, "nickname"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "a/b"}, "external_id"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00byte"}, "name"),
    ],
)
def test_invalid_customer_is_400_and_writes_nothing(api, change, field):
    response = api.post(URL, {**BODY, **change}, format="json")
    assert response.status_code == 400, response.json()
    if field:
        assert response.json()["error"]["field"] == field
    assert not Customer.objects.exists()


def test_missing_fields_listed(api):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["error"]["errors"]}
    assert fields == {"external_id", "name", "email", "currency"}


def test_duplicate_external_id_is_400(api):
    api.post(URL, BODY, format="json")
    response = api.post(URL, BODY, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "external_id"


def test_update_and_archive(api):
    api.post(URL, BODY, format="json")
    response = api.patch(
        f"{URL}acme-42/", {"name": "Acme GmbH", "address": {"city": "Munich"}}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["address"]["city"]) == ("Acme GmbH", "Munich")
    assert response.json()["address"]["line1"] == "Hauptstr. 1"
    archived = api.post(f"{URL}acme-42/archive/")
    assert archived.json()["archived"] is True
    assert api.get(URL).json()["results"] == []
    assert [c["external_id"] for c in api.get(f"{URL}?archived=true").json()["results"]] == [
        "acme-42"
    ]
    refused = api.patch(f"{URL}acme-42/", {"name": "New"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "archived"
    assert api.post(f"{URL}acme-42/unarchive/").json()["archived"] is False


def test_external_id_cannot_change(api):
    api.post(URL, BODY, format="json")
    response = api.patch(f"{URL}acme-42/", {"external_id": "other"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "external_id"
    assert Customer.objects.get().external_id == "acme-42"


def test_delete_is_not_offered(api):
    api.post(URL, BODY, format="json")
    response = api.delete(f"{URL}acme-42/")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "invalid_request"
    assert Customer.objects.count() == 1
