"""`/customers/{id}/service-keys/` and `/customers/{id}/seats/` over the API."""

from datetime import UTC, datetime

import pytest
from django.urls import include, path

from api.models import IdempotencyRecord
from billing.tests import factories
from catalog.tests.factories import feature as feature_create
from config.urls import urlpatterns as project_urlpatterns
from customers.services import customer_user_add
from provisioning.models import SeatAssignment, ServiceKey
from provisioning.services import accounts
from provisioning.services.keys import (
    service_key_authenticate,
    service_key_issue,
    service_key_reveal,
)

# Until config/urls.py includes provisioning.api.keys_urls, these tests route it themselves.
urlpatterns = [path("api/v1/", include("provisioning.api.keys_urls")), *project_urlpatterns]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

AT = datetime(2027, 3, 1, 12, tzinfo=UTC)


def keys_url(customer, suffix=""):
    return f"/api/v1/customers/{customer.external_id}/service-keys/{suffix}"


def seats_url(customer, suffix=""):
    return f"/api/v1/customers/{customer.external_id}/seats/{suffix}"


@pytest.fixture
def customer():
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    return customer


def test_create_shows_the_key_once_and_lists_never_show_it(api, customer):
    response = api.post(keys_url(customer), {"name": "prod", "scopes": ["read"]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    raw = body["key"]
    assert raw.startswith("ck_live_")
    assert (body["name"], body["scopes"], body["state"], body["prefix"]) == (
        "prod",
        ["read"],
        "active",
        raw[:12],
    )
    assert service_key_authenticate(raw, at=datetime.now(tz=UTC)).pk == body["id"]
    listed = api.get(keys_url(customer))
    assert listed.status_code == 200
    assert raw not in listed.content.decode()
    assert [k["id"] for k in listed.json()["results"]] == [body["id"]]
    one = api.get(keys_url(customer, f"{body['id']}/")).json()
    assert "key" not in one
    assert "hashed_key" not in one


def test_the_api_shows_whether_a_key_was_revealed(api, customer):
    issued = service_key_issue(customer=customer, name="Default", scopes=["read"], at=AT)
    made = api.post(keys_url(customer), {"name": "ci", "scopes": ["read"]}, format="json").json()
    assert (made["unrevealed"], made["revealed_at"], made["state"]) == (False, None, "active")
    one = api.get(keys_url(customer, f"{issued.pk}/")).json()
    assert (one["unrevealed"], one["revealed_at"], one["state"]) == (True, None, "unrevealed")
    assert one["prefix"] == "ck_live_"
    service_key_reveal(key=issued, at=AT)
    one = api.get(keys_url(customer, f"{issued.pk}/")).json()
    assert (one["unrevealed"], one["state"]) == (False, "active")
    assert one["revealed_at"].startswith("2027-03-01T12:00:00")
    assert "key" not in one


def test_an_idempotent_replay_does_not_store_or_show_the_secret(api, customer):
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-prod-1"}
    body = {"name": "prod", "scopes": ["read", "write"]}
    first = api.post(keys_url(customer), body, format="json", **headers)
    assert first.status_code == 201
    raw = first.json()["key"]
    assert raw
    assert raw not in str(IdempotencyRecord.objects.values_list("response_body", flat=True))
    replay = api.post(keys_url(customer), body, format="json", **headers)
    assert replay.status_code == 201
    assert replay.json()["key"] is None
    assert replay.json()["id"] == first.json()["id"]
    assert ServiceKey.objects.count() == 1


def test_create_refusals_use_the_contract_error_body(api, read_only_api, customer):
    bad_scope = api.post(keys_url(customer), {"name": "p", "scopes": ["root"]}, format="json")
    assert bad_scope.status_code == 400
    assert bad_scope.json()["error"]["field"].startswith("scopes")
    unknown = api.post(keys_url(customer), {"name": "p", "scopes": ["read"], "x": 1}, format="json")
    assert unknown.json()["error"]["code"] == "unknown_field"
    assert api.get("/api/v1/customers/nobody/service-keys/").status_code == 404
    assert api.get(keys_url(customer, "999999/")).status_code == 404
    assert read_only_api.post(keys_url(customer), {}, format="json").status_code == 403
    accounts.account_suspend(customer=customer, at=AT)
    suspended = api.post(keys_url(customer), {"name": "p", "scopes": ["read"]}, format="json")
    assert suspended.status_code == 422
    assert suspended.json()["error"]["code"] == "access_suspended"


def test_rotate_then_revoke(api, customer):
    created = api.post(keys_url(customer), {"name": "prod", "scopes": ["read"]}, format="json")
    old_id = created.json()["id"]
    rotated = api.post(keys_url(customer, f"{old_id}/rotate/"), {"overlap_hours": 1}, format="json")
    assert rotated.status_code == 201, rotated.json()
    new = rotated.json()
    assert new["key"].startswith("ck_live_")
    assert new["rotated_from"] == old_id
    old = api.get(keys_url(customer, f"{old_id}/")).json()
    assert old["state"] == "expiring"
    assert old["expires_at"]
    again = api.post(keys_url(customer, f"{old_id}/rotate/"), {}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (422, "key_rotated")
    revoked = api.post(keys_url(customer, f"{new['id']}/revoke/"))
    assert revoked.status_code == 200
    assert revoked.json()["state"] == "revoked"
    assert api.post(keys_url(customer, f"{new['id']}/revoke/")).status_code == 200
    assert service_key_authenticate(new["key"], at=datetime.now(tz=UTC)) is None


def test_another_customers_key_is_not_found(api, customer):
    other = factories.customer("other")
    accounts.account_activate(customer=other, at=AT)
    key_id = api.post(keys_url(other), {"name": "o", "scopes": ["read"]}, format="json").json()[
        "id"
    ]
    assert api.post(keys_url(customer, f"{key_id}/revoke/")).status_code == 404
    assert ServiceKey.objects.get(pk=key_id).revoked_at is None


@pytest.fixture
def seats_setup(customer):
    feature = feature_create("editor_seats", kind="seats")
    customer.provisioned_entitlements.create(feature=feature, limit=2)
    members = [customer_user_add(customer=customer, email=f"u{n}@acme.test") for n in range(3)]
    return feature, members


def test_assign_list_and_the_seat_limit(api, customer, seats_setup):
    feature, (a, b, c) = seats_setup
    first = api.post(seats_url(customer), {"feature": "editor_seats", "user": a.pk}, format="json")
    assert first.status_code == 201, first.json()
    assert (first.json()["feature"], first.json()["user"], first.json()["email"]) == (
        "editor_seats",
        a.pk,
        "u0@acme.test",
    )
    by_email = api.post(
        seats_url(customer), {"feature": feature.pk, "user": "U1@acme.test"}, format="json"
    )
    assert by_email.status_code == 201, by_email.json()
    full = api.post(seats_url(customer), {"feature": "editor_seats", "user": c.pk}, format="json")
    assert full.status_code == 409
    assert full.json()["error"]["code"] == "seat_limit_reached"
    listed = api.get(seats_url(customer)).json()
    assert [s["user"] for s in listed["results"]] == [a.pk, b.pk]
    assert listed["features"] == [
        {"feature": "editor_seats", "purchased": 2, "assigned": 2, "available": 0}
    ]


def test_assign_refusals(api, customer, seats_setup):
    feature, (a, *_) = seats_setup
    stranger = customer_user_add(customer=factories.customer("other"), email="x@other.test")
    for body, field in [
        ({"feature": "editor_seats", "user": stranger.pk}, "user"),
        ({"feature": "editor_seats", "user": "nobody@acme.test"}, "user"),
        ({"feature": "nope", "user": a.pk}, "feature"),
    ]:
        response = api.post(seats_url(customer), body, format="json")
        assert response.status_code == 400, response.json()
        assert response.json()["error"]["field"] == field
    feature_create("sso")
    not_seats = api.post(seats_url(customer), {"feature": "sso", "user": a.pk}, format="json")
    assert (not_seats.status_code, not_seats.json()["error"]["code"]) == (400, "not_seats")


def test_unassign_and_transfer(api, customer, seats_setup):
    _, (a, b, c) = seats_setup
    seat_a = api.post(seats_url(customer), {"feature": "editor_seats", "user": a.pk}, format="json")
    seat_b = api.post(seats_url(customer), {"feature": "editor_seats", "user": b.pk}, format="json")
    moved = api.post(
        seats_url(customer, f"{seat_a.json()['id']}/transfer/"), {"to_user": c.pk}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    assert moved.json()["user"] == c.pk
    taken = api.post(
        seats_url(customer, f"{seat_b.json()['id']}/transfer/"), {"to_user": c.pk}, format="json"
    )
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "already_assigned")
    freed = api.post(seats_url(customer, f"{seat_b.json()['id']}/unassign/"))
    assert freed.status_code == 200
    assert freed.json()["user"] == b.pk
    assert list(SeatAssignment.objects.values_list("user", flat=True)) == [c.pk]
    assert api.post(seats_url(customer, f"{seat_b.json()['id']}/unassign/")).status_code == 404


def test_reduction_check(api, customer, seats_setup):
    _, (a, b, _) = seats_setup
    for user in (a, b):
        api.post(seats_url(customer), {"feature": "editor_seats", "user": user.pk}, format="json")
    ok = api.post(
        seats_url(customer, "check-reduction/"),
        {"feature": "editor_seats", "new_limit": 2},
        format="json",
    )
    assert (ok.status_code, ok.json()) == (200, {"allowed": True})
    refused = api.post(
        seats_url(customer, "check-reduction/"),
        {"feature": "editor_seats", "new_limit": 1},
        format="json",
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "2 seats are assigned; unassign 1 user before reducing to 1 seat."
    )
