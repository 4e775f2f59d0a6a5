"""When an API call that creates, changes, pauses, resumes or cancels a subscription returns,
`/access/check` already answers for the new state: its events' orders are made and their
database steps run right after the commit, in that process, with no worker; outside calls
(the API key email, `call_http`, `send_email`) stay queued for the worker, which later does
nothing twice. Incomplete subscriptions (first charge failed) lose their entitlements."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import OrmQ

from billing.models import Subscription
from billing.payments.services.collection import invoice_collect
from billing.payments.services.incomplete_jobs import subscriptions_incomplete_expire
from billing.payments.services.payments import payment_collect
from billing.tests import factories
from billing.tests.payment_helpers import card, customer_with_card
from provisioning import tasks
from provisioning.models import CustomerAccess, FulfillmentStep, Order, Workflow
from provisioning.services.access import access_cache_clear
from provisioning.services.orders import deprovision_due
from provisioning.tests.entitlement_helpers import Catalog

pytestmark = pytest.mark.django_db
CHECK = "/api/v1/access/check"


@pytest.fixture(autouse=True)
def fresh_cache():
    access_cache_clear()


@pytest.fixture
def cat():
    return Catalog()


@pytest.fixture
def acme(cat):
    return factories.customer("acme")  # no card: its invoices wait open, it is active


@pytest.fixture
def call(api, django_capture_on_commit_callbacks):
    """POST as an API client; the on-commit callbacks run as after a real commit."""

    def post(path, body):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(path, body, format="json")
        assert response.status_code in (200, 201), response.content
        return response.json()

    return post


def check(api, feature, customer="acme"):
    body = api.post(CHECK, {"customer": customer, "feature": feature}, format="json").json()
    return body["allowed"], body["reason"]


def subscribe(call, plan="pro", **body):
    return call("/api/v1/subscriptions/", {"customer": "acme", "plan": plan, **body})


def test_access_answers_as_soon_as_the_subscription_is_created(api, call, acme):
    assert check(api, "sso") == (False, "not_provisioned")
    sub = subscribe(call)
    assert sub["status"] == "active"
    assert check(api, "sso") == (True, "ok")
    assert check(api, "api_quota") == (True, "ok")
    order = Order.objects.get(customer=acme)
    steps = dict(order.steps.values_list("key", "status"))
    # the key is emailed by the worker, not in the API call
    assert steps == {
        "account": "succeeded",
        "entitlements": "succeeded",
        "seats": "succeeded",
        "api_key": "pending",
    }
    assert mail.outbox == [] or all("API key" not in m.subject for m in mail.outbox)
    # the worker, later: the same events, no second order, the rest of the steps done
    tasks.billing_events_consume_task()
    assert Order.objects.filter(customer=acme).count() == 1
    assert Order.objects.get(customer=acme).status == "completed"


def test_a_change_is_seen_at_once(api, call, acme):
    sub = subscribe(call, plan="basic")
    assert check(api, "sso") == (False, "not_entitled")
    call(f"/api/v1/subscriptions/{sub['id']}/change/", {"plan": "pro", "when": "immediately"})
    assert check(api, "sso") == (True, "ok")


def test_pause_suspends_and_resume_restores_at_once(api, call, acme):
    sub = subscribe(call)
    call(f"/api/v1/subscriptions/{sub['id']}/pause/", {})
    assert check(api, "sso") == (False, "suspended")
    call(f"/api/v1/subscriptions/{sub['id']}/resume/", {})
    assert check(api, "sso") == (True, "ok")


def test_canceling_now_schedules_the_end_after_the_grace_period(api, call, acme, settings):
    """The new state of a canceled customer is "deprovisioned after the grace period"
    (PROVISIONING_DEPROVISION_GRACE_DAYS): allowed until then, denied after."""
    settings.PROVISIONING_DEPROVISION_GRACE_DAYS = 7
    sub = subscribe(call)
    before = timezone.now()
    call(f"/api/v1/subscriptions/{sub['id']}/cancel/", {"when": "immediately"})
    access = CustomerAccess.objects.get(customer=acme)
    assert before + timedelta(days=7) <= access.deprovision_at <= timezone.now() + timedelta(days=7)
    assert check(api, "sso") == (True, "ok")
    tasks.billing_events_consume_task()  # the worker emails the key meanwhile
    deprovision_due(at=access.deprovision_at)
    assert check(api, "sso") == (False, "not_provisioned")


def test_canceling_one_of_two_removes_its_grants_at_once(api, call, acme):
    subscribe(call, plan="basic")
    pro = subscribe(call, plan="pro")
    assert check(api, "sso") == (True, "ok")
    call(f"/api/v1/subscriptions/{pro['id']}/cancel/", {"when": "immediately"})
    assert check(api, "sso") == (False, "not_entitled")
    assert check(api, "api_quota") == (True, "ok")


def test_a_failing_sync_never_fails_the_call_and_the_worker_catches_up(api, call, acme):
    with mock.patch("provisioning.tasks.billing_event_apply", side_effect=RuntimeError("boom")):
        sub = subscribe(call)
    assert Subscription.objects.get(pk=sub["id"]).status == "active"
    assert check(api, "sso") == (False, "not_provisioned")
    tasks.billing_events_consume_task()
    assert check(api, "sso") == (True, "ok")


def test_the_setting_turns_it_off(api, call, acme, settings):
    settings.PROVISIONING_SYNC_ON_COMMIT = False
    subscribe(call)
    assert not Order.objects.exists()
    assert check(api, "sso") == (False, "not_provisioned")


def test_a_step_waiting_for_approval_is_not_bypassed(api, call, acme):
    Workflow.objects.create(
        product=None,
        kind="activate",
        active=True,
        steps=[
            {"key": "ok", "type": "manual_approval"},
            {"key": "account", "type": "create_account", "depends_on": ["ok"]},
            {"key": "entitlements", "type": "grant_entitlements", "depends_on": ["account"]},
        ],
    )
    subscribe(call)
    assert check(api, "sso") == (False, "not_provisioned")
    assert FulfillmentStep.objects.get(key="ok").status == "waiting"


def test_an_incomplete_subscription_has_no_access_until_paid(
    api, cat, django_capture_on_commit_callbacks
):
    customer, _ = customer_with_card("acme", token="tok_chargeDeclined")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/subscriptions/", {"customer": "acme", "plan": "pro"}, format="json"
        )
    assert response.json()["status"] == "incomplete"  # charged in the request: declined
    sub = Subscription.objects.get(pk=response.json()["id"])
    assert check(api, "sso") == (False, "not_provisioned")  # never granted
    assert not Order.objects.filter(kind="activate").exists()
    assert OrmQ.objects.exists()  # the collection task queued at finalization...
    with django_capture_on_commit_callbacks(execute=True):  # ...charges no second time
        assert invoice_collect(invoice_id=sub.first_invoice_id, at=timezone.now()) == (
            "already_attempted"
        )
    assert check(api, "sso") == (False, "not_provisioned")
    good = card(customer, token="tok_visa")
    with django_capture_on_commit_callbacks(execute=True):
        payment_collect(invoice=sub.first_invoice, at=timezone.now(), method=good)
    sub.refresh_from_db()
    assert sub.status == "active"
    assert check(api, "sso") == (True, "ok")


def test_an_expired_incomplete_subscription_never_gets_access(
    api, cat, django_capture_on_commit_callbacks, settings
):
    settings.PROVISIONING_SYNC_ON_COMMIT = False  # as if the worker had been away meanwhile
    customer, _ = customer_with_card("acme", token="tok_chargeDeclined")
    sub = factories.subscription(customer=customer, plan=cat.pro, at=timezone.now())
    invoice_collect(invoice_id=sub.first_invoice_id, at=timezone.now())
    settings.PROVISIONING_SYNC_ON_COMMIT = True
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriptions_incomplete_expire(at=timezone.now() + timedelta(hours=23)) == 1
    tasks.billing_events_consume_task()  # the older events, in order
    assert check(api, "sso") == (False, "not_provisioned")  # its activation was skipped
    sub.refresh_from_db()
    assert sub.status == "incomplete_expired"
    assert not Order.objects.filter(kind="activate").exists()
    assert not CustomerAccess.objects.filter(customer=customer, status="active").exists()


def test_an_incomplete_second_subscription_leaves_the_first_ones_access(
    api, cat, django_capture_on_commit_callbacks
):
    customer, _ = customer_with_card("acme", token="tok_visa")
    with django_capture_on_commit_callbacks(execute=True):
        basic = factories.subscription(customer=customer, plan=cat.basic, at=timezone.now())
        invoice_collect(invoice_id=basic.first_invoice_id, at=timezone.now())
    card(customer, token="tok_chargeDeclined")
    with django_capture_on_commit_callbacks(execute=True):
        pro = factories.subscription(customer=customer, plan=cat.pro, at=timezone.now())
    assert check(api, "sso") == (True, "ok")  # pro grants it
    with django_capture_on_commit_callbacks(execute=True):
        invoice_collect(invoice_id=pro.first_invoice_id, at=timezone.now())
    assert Subscription.objects.get(pk=pro.pk).status == "incomplete"
    assert check(api, "sso") == (False, "not_entitled")  # pro's grants went, basic's stay
    assert check(api, "api_quota") == (True, "ok")
