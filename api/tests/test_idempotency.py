import threading
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from api.models import IdempotencyRecord
from customers.models import Customer

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"
BODY = {"external_id": "acme", "name": "Acme", "email": "a@acme.example", "currency": "USD"}


def test_same_key_same_body_replays_first_response(api):
    first = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


def test_same_key_other_body_is_409(api):
    api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    response = api.post(URL, {**BODY, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Customer.objects.get().name == "Acme"


def test_refused_request_frees_the_key_for_a_corrected_retry(api):
    bad = api.post(URL, {**BODY, "currency": "XYZ1"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert bad.status_code == 400
    assert not IdempotencyRecord.objects.exists()
    # Same key, corrected body: accepted (the refused call changed nothing).
    good = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert good.status_code == 201


def test_keys_are_scoped_per_api_key(api, read_only_api, db):
    from api.services import api_key_create

    _, raw = api_key_create(name="other", scopes=["read", "write"])
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    # Another key using the same Idempotency-Key is a new request (and a duplicate customer).
    response = other.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "external_id"


def test_in_flight_key_is_409_and_stale_claim_is_taken_over(api, api_key):
    from django.utils import timezone

    from api.idempotency import request_fingerprint

    record = IdempotencyRecord.objects.create(
        api_key=api_key,
        key="k3",
        method="POST",
        path=URL,
        request_hash=request_fingerprint(method="POST", path=URL, body=BODY),
    )
    response = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_use"
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(minutes=10)
    )
    assert api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="k3").status_code == 201


def test_overlong_key_is_400(api):
    response = api.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert not Customer.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_key_create_once(postgres_only, api_key):
    """20 threads post the same body and key at once: one customer, every answer 201 or 409."""
    statuses, barrier = [], threading.Barrier(20)

    def post():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw}")
        barrier.wait()
        statuses.append(
            client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="race").status_code
        )
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Customer.objects.filter(external_id="acme").count() == 1
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
