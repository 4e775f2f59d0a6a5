"""A service key issued by provisioning is mailed to nobody: the owner is told it exists and
where to reveal it; it works only once revealed, and is revealed once."""

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from api.errors import StateError
from billing.tests import factories
from catalog.models import Entitlement
from catalog.tests import factories as catalog_factories
from customers.models import CustomerRole
from customers.services import customer_user_add
from provisioning import tasks
from provisioning.models import Order, ServiceKey
from provisioning.services import accounts
from provisioning.services.access import access_check
from provisioning.services.keys import (
    service_key_authenticate,
    service_key_create,
    service_key_hash,
    service_key_issue,
    service_key_reveal,
    service_key_revoke,
    service_key_rotate,
)

pytestmark = pytest.mark.django_db
AT = datetime(2027, 3, 1, 12, tzinfo=UTC)
# "ck_live_" followed by any character a key's secret is made of
SECRET_PATTERN = re.compile(r"ck_live_[A-Za-z0-9_\-]")


def assert_no_key_in_mail() -> None:
    for message in mail.outbox:
        for text in (message.subject, message.body):
            assert not SECRET_PATTERN.search(text), text


@pytest.fixture
def customer():
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    return customer


def test_an_issued_key_is_unrevealed_and_shows_nothing_of_a_secret(customer):
    key = service_key_issue(customer=customer, name="Default", scopes=["read"], at=AT)
    assert key.unrevealed is True
    assert key.revealed_at is None
    assert key.prefix == "ck_live_"  # no character of a secret
    stored = ServiceKey.objects.values().get(pk=key.pk)
    assert len(stored["hashed_key"]) == 64


def test_an_unrevealed_key_cannot_authenticate_even_with_its_hash_known(customer):
    """Nobody knows an unrevealed key's secret; were one known (here: a hash of a known
    string), the key still fails every way a key is checked."""
    key = service_key_issue(customer=customer, name="Default", scopes=["read"], at=AT)
    raw = "ck_live_a-secret-someone-might-know"
    ServiceKey.objects.filter(pk=key.pk).update(hashed_key=service_key_hash(raw))
    sso = catalog_factories.feature(code="sso")
    customer.provisioned_entitlements.create(feature=sso)

    assert service_key_authenticate(raw, at=AT) is None
    assert access_check(feature_code="sso", api_key=raw, at=AT).reason == "invalid_api_key"

    ServiceKey.objects.filter(pk=key.pk).update(unrevealed=False)  # the same key, revealed
    assert service_key_authenticate(raw, at=AT).pk == key.pk
    assert access_check(feature_code="sso", api_key=raw, at=AT).reason == "ok"


def test_reveal_gives_the_secret_once(customer, caplog):
    key = service_key_issue(customer=customer, name="Default", scopes=["read"], at=AT)
    before = key.hashed_key
    caplog.set_level(logging.INFO, logger="provisioning.keys")

    key, raw = service_key_reveal(key=key, at=AT + timedelta(hours=1), actor="tester")

    assert raw.startswith("ck_live_")
    assert len(raw) > 40
    assert (key.unrevealed, key.revealed_at, key.prefix) == (
        False,
        AT + timedelta(hours=1),
        raw[:12],
    )
    stored = ServiceKey.objects.values().get(pk=key.pk)
    assert stored["hashed_key"] == service_key_hash(raw) != before
    assert raw not in str(stored)
    assert service_key_authenticate(raw, at=AT + timedelta(hours=1)).pk == key.pk
    assert f"service key {key.pk} revealed by tester" in caplog.text
    assert raw not in caplog.text

    with pytest.raises(StateError) as refused:
        service_key_reveal(key=key, at=AT + timedelta(hours=2))
    assert refused.value.code == "key_revealed"
    assert ServiceKey.objects.get(pk=key.pk).hashed_key == service_key_hash(raw)  # unchanged


def test_keys_created_or_rotated_are_revealed_and_cannot_be_revealed_again(customer):
    key, raw = service_key_create(customer=customer, name="ci", scopes=["read"], at=AT)
    assert key.unrevealed is False
    new, _ = service_key_rotate(key=key, at=AT)
    for shown in (key, new):
        with pytest.raises(StateError) as refused:
            service_key_reveal(key=shown, at=AT)
        assert refused.value.code == "key_revealed"
    assert service_key_authenticate(raw, at=AT) is not None


@pytest.mark.parametrize(("change", "code"), [("revoke", "key_revoked"), ("rotate", "key_expired")])
def test_a_revoked_or_rotated_unrevealed_key_cannot_be_revealed(customer, change, code):
    key = service_key_issue(customer=customer, name="Default", scopes=["read"], at=AT)
    if change == "revoke":
        service_key_revoke(key=key, at=AT)
    else:
        service_key_rotate(key=key, at=AT)
    with pytest.raises(StateError) as refused:
        service_key_reveal(key=key, at=AT)
    assert refused.value.code == code
    assert ServiceKey.objects.get(pk=key.pk).unrevealed is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reveals_show_the_secret_once(postgres_only):
    customer = factories.customer("acme")
    accounts.account_activate(customer=customer, at=AT)
    key = service_key_issue(customer=customer, name="Default", scopes=["read"], at=AT)
    barrier = threading.Barrier(6, timeout=30)

    def reveal(_):
        try:
            barrier.wait()
            return service_key_reveal(key=key, at=AT)[1]
        except StateError as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(reveal, range(6)))
    secrets = [o for o in outcomes if o.startswith("ck_live_")]
    assert len(secrets) == 1, outcomes
    assert outcomes.count("key_revealed") == 5
    assert ServiceKey.objects.get(pk=key.pk).hashed_key == service_key_hash(secrets[0])


# The activation through the worker's task, its mail, and the reveal
@pytest.fixture
def subscribed():
    customer = factories.customer("initech")
    customer_user_add(
        customer=customer,
        email="boss@initech.example.com",
        role=CustomerRole.OWNER,
        password="portal-test-pass-9",  # noqa: S106 - test login
    )
    plan = factories.plan(code="starter", amount="0")
    Entitlement.objects.create(plan=plan, feature=catalog_factories.feature(code="sso"))
    factories.subscription(customer=customer, plan=plan, at=timezone.now())
    return customer


def test_the_activation_mails_where_to_reveal_the_key_never_the_key(
    subscribed, settings, django_capture_on_commit_callbacks, caplog
):
    settings.SITE_URL = "https://billing.example.com/"
    caplog.set_level(logging.INFO, logger="provisioning.keys")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.billing_events_consume_task()  # what the worker runs

    order = Order.objects.get(customer=subscribed, kind="activate")
    assert order.status == "completed"
    key = ServiceKey.objects.get(customer=subscribed)
    assert (key.name, key.unrevealed, key.prefix) == ("Default", True, "ck_live_")
    step = order.steps.get(step_type="issue_api_key")
    assert step.result == {"key_id": key.pk, "unrevealed": True}
    assert f"service key {key.pk} issued unrevealed" in caplog.text
    assert f"by order:{order.pk}" in caplog.text
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["boss@initech.example.com"]
    assert "Default" in message.subject
    assert "https://billing.example.com/portal/api-keys/" in message.body
    assert "shown once" in message.body
    assert_no_key_in_mail()

    key, raw = service_key_reveal(key=key, at=timezone.now())
    assert raw not in message.body
    assert raw not in message.subject
    assert service_key_authenticate(raw, at=timezone.now()) is not None
    assert_no_key_in_mail()


def test_the_admin_shows_the_revealed_state_read_only(admin_client, customer):
    issued = service_key_issue(customer=customer, name="Default", scopes=["read"], at=AT)
    made, _ = service_key_create(customer=customer, name="ci", scopes=["read"], at=AT)
    listed = admin_client.get(
        reverse("admin:provisioning_servicekey_changelist"), {"state": "unrevealed"}
    )
    assert listed.status_code == 200
    assert [k.pk for k in listed.context["cl"].result_list] == [issued.pk]
    detail = admin_client.get(reverse("admin:provisioning_servicekey_change", args=[issued.pk]))
    page = detail.content.decode()
    assert detail.status_code == 200
    assert "Revealed at" in page
    assert 'name="unrevealed"' not in page  # read-only
    assert made.hashed_key not in page
