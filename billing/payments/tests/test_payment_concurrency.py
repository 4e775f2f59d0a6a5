"""20 concurrent `POST /payments/` for one invoice, on PostgreSQL over real HTTP: one charge."""

import json
import threading
import urllib.error
import urllib.request
from collections import Counter

import pytest
from django.db import connection

from billing.models import InvoiceStatus, Payment, SandboxCharge
from billing.tests.payment_helpers import customer_with_card, open_invoice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
REQUESTS = 20


def _fire(url: str, key: str, body: dict, idempotency_keys: list[str]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(REQUESTS)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def post(n: int) -> None:
        request = urllib.request.Request(  # noqa: S310 - the live test server
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_keys[n],
            },
        )
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                outcome = (response.status, json.loads(response.read()))
        except urllib.error.HTTPError as error:
            outcome = (error.code, json.loads(error.read()))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "different-keys"])
def test_concurrent_payments_for_one_invoice_charge_once(live_server, api_key, same_key):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    customer, _ = customer_with_card()
    invoice = open_invoice(customer, "49.00")
    keys = ["pay-once"] * REQUESTS if same_key else [f"pay-{n}" for n in range(REQUESTS)]
    results = _fire(
        f"{live_server.url}/api/v1/payments/", api_key.raw, {"invoice": invoice.number}, keys
    )
    statuses = Counter(status for status, _ in results)
    assert statuses[201] >= 1, results
    assert set(statuses) <= {201, 409, 422}, results
    created = {body["id"] for status, body in results if status == 201}
    assert len(created) == 1  # replays of the same key return the same payment
    assert SandboxCharge.objects.filter(status="succeeded").count() == 1
    assert Payment.objects.filter(status="succeeded").count() == 1
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_paid == invoice.total
    refused = [body["error"]["code"] for status, body in results if status != 201]
    assert set(refused) <= {
        "payment_in_progress",
        "invoice_not_open",
        "idempotency_key_in_use",
    }
