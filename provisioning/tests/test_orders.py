"""Orders: workflow validation, the DAG runner, retries, approval, skip, compensation."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import include, path

from billing.tests import factories
from catalog.models import Entitlement
from catalog.tests import factories as catalog_factories
from provisioning.models import (
    CustomerAccess,
    FulfillmentStep,
    Order,
    OrderKind,
    OrderStatus,
    ProvisionedEntitlement,
    SeatAssignment,
    ServiceKey,
    StepStatus,
    Workflow,
)
from provisioning.services import orders
from provisioning.services.workflows import DEFAULT_WORKFLOWS, workflow_validate
from provisioning.tests.test_lifecycle_e2e import CountingServer

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
pytestmark = pytest.mark.django_db


@pytest.fixture
def server(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # the stub server (private otherwise)
    s = CountingServer()
    yield s
    s.close()


@pytest.fixture
def customer():
    return factories.customer()


@pytest.fixture
def paying(customer):
    seats = catalog_factories.feature(code="seats", kind="seats")
    sso = catalog_factories.feature(code="sso")
    plan = factories.plan(code="team")
    Entitlement.objects.create(plan=plan, feature=seats, limit=5)
    Entitlement.objects.create(plan=plan, feature=sso)
    factories.subscription(customer=customer, plan=plan, at=AT)
    return customer


def _order(customer, steps, kind=OrderKind.ACTIVATE):
    Workflow.objects.update_or_create(product=None, kind=kind, defaults={"steps": steps})
    return orders.order_create(customer=customer, kind=kind, at=AT)


def _step(order, key):
    return FulfillmentStep.objects.get(order=order, key=key)


# Workflows
def test_default_workflows_are_valid_dags():
    for steps in DEFAULT_WORKFLOWS.values():
        assert workflow_validate(steps)


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        ([{"key": "a", "type": "teleport"}], "workflow_step_type"),
        ([{"key": "a", "type": "send_email", "depends_on": ["b"]}], "workflow_dependency"),
        (
            [
                {"key": "a", "type": "send_email", "depends_on": ["b"]},
                {"key": "b", "type": "send_email", "depends_on": ["a"]},
            ],
            "workflow_cycle",
        ),
        (
            [{"key": "a", "type": "send_email"}, {"key": "a", "type": "send_email"}],
            "workflow_step_key",
        ),
        ([], "workflow_empty"),
    ],
)
def test_invalid_workflows_are_refused(steps, code):
    with pytest.raises(ValidationError) as exc:
        workflow_validate(steps)
    assert exc.value.code == code


# The default activation
def test_activation_provisions_account_entitlements_seat_and_key(
    paying, django_capture_on_commit_callbacks
):
    order = orders.order_create(customer=paying, kind=OrderKind.ACTIVATE, at=AT)
    with django_capture_on_commit_callbacks(execute=True):
        order = orders.order_run(order=order, at=AT)
    assert order.status == OrderStatus.COMPLETED
    assert CustomerAccess.objects.get(customer=paying).status == "active"
    codes = set(
        ProvisionedEntitlement.objects.filter(customer=paying).values_list(
            "feature__code", flat=True
        )
    )
    assert {"seats", "sso"} <= codes
    assert SeatAssignment.objects.filter(customer=paying).count() == 1
    key = ServiceKey.objects.get(customer=paying)
    assert key.unrevealed  # its owner reveals it in the portal; no secret is mailed
    assert _step(order, "api_key").result == {"key_id": key.pk, "unrevealed": True}
    assert len(mail.outbox) == 1
    assert "/portal/api-keys/" in mail.outbox[0].body
    assert "ck_live_" not in mail.outbox[0].body + mail.outbox[0].subject


def test_rerunning_a_succeeded_activation_duplicates_nothing(paying):
    first = orders.order_run(
        order=orders.order_create(customer=paying, kind="activate", at=AT), at=AT
    )
    second = orders.order_run(
        order=orders.order_create(customer=paying, kind="activate", at=AT), at=AT
    )
    assert first.status == second.status == OrderStatus.COMPLETED
    assert ServiceKey.objects.filter(customer=paying).count() == 1
    assert SeatAssignment.objects.filter(customer=paying).count() == 1
    assert _step(second, "api_key").result["existing"] is True
    orders.order_run(order=first, at=AT)  # a completed order is left alone
    assert _step(first, "api_key").attempts == 1


# DAG, health, retries
def test_steps_run_after_their_dependencies_and_wait_for_health(customer, server):
    server.healthy = False
    order = _order(
        customer,
        [
            {"key": "account", "type": "create_account"},
            {
                "key": "hook",
                "type": "call_http",
                "depends_on": ["account"],
                "config": {"url": server.url + "/provision", "health_url": server.url + "/health"},
            },
        ],
    )
    order = orders.order_run(order=order, at=AT)
    hook = _step(order, "hook")
    assert order.status == OrderStatus.IN_PROGRESS
    assert _step(order, "account").status == StepStatus.SUCCEEDED
    assert hook.status == StepStatus.WAITING
    assert hook.attempts == 0
    assert hook.next_attempt_at == AT + timedelta(seconds=30)
    assert not server.requests
    orders.order_run(order=order, at=AT + timedelta(seconds=10))  # not due yet
    assert _step(order, "hook").status == StepStatus.WAITING
    server.healthy = True
    order = orders.order_run(order=order, at=AT + timedelta(seconds=31))
    assert order.status == OrderStatus.COMPLETED
    assert server.requests == {hook.idempotency_key: 1}


def test_failures_retry_with_backoff_then_fail_the_order(customer, server):
    server.fail = 99
    order = _order(customer, [{"key": "hook", "type": "call_http", "config": {"url": server.url}}])
    at = AT
    for attempt in range(1, orders.MAX_ATTEMPTS + 1):
        order = orders.order_run(order=order, at=at)
        step = _step(order, "hook")
        assert step.attempts == attempt
        if attempt < orders.MAX_ATTEMPTS:
            assert step.next_attempt_at == at + timedelta(seconds=30 * 2 ** (attempt - 1))
            assert orders.order_run(order=order, at=at).status == OrderStatus.IN_PROGRESS
            at = step.next_attempt_at
    assert order.status == OrderStatus.FAILED
    assert "answered 500" in order.error
    server.fail = 0
    order = orders.order_retry(order=order, at=at, actor="ops")
    assert order.status == OrderStatus.COMPLETED
    assert server.effects[step.idempotency_key] == 1


def test_a_later_order_of_the_customer_waits_for_the_earlier_one(customer, server):
    server.fail = 1
    first = _order(customer, [{"key": "hook", "type": "call_http", "config": {"url": server.url}}])
    second = _order(customer, [{"key": "account", "type": "create_account"}], kind="change")
    orders.orders_run_due(at=AT)
    assert Order.objects.get(pk=second.pk).status == OrderStatus.RECEIVED
    orders.orders_run_due(at=AT + timedelta(minutes=1))
    assert Order.objects.get(pk=first.pk).status == OrderStatus.COMPLETED
    assert Order.objects.get(pk=second.pk).status == OrderStatus.COMPLETED


def test_a_running_external_step_lost_by_its_worker_is_taken_over(customer, server):
    order = _order(
        customer,
        [{"key": "hook", "type": "call_http", "config": {"url": server.url, "timeout": 2}}],
    )
    orders._order_start(order.pk, AT)
    with django_atomic():
        orders._claim(_step(order, "hook").pk, AT)  # claimed, then the worker died
    assert orders.order_run(order=order, at=AT + timedelta(seconds=3)).status == "in_progress"
    order = orders.order_run(order=order, at=AT + timedelta(seconds=8))
    step = _step(order, "hook")
    assert order.status == OrderStatus.COMPLETED
    assert step.attempts == 2
    assert server.effects[step.idempotency_key] == 1


def django_atomic():
    from django.db import transaction

    return transaction.atomic()


# Operators
def test_manual_approval_waits_for_an_operator(customer):
    order = _order(
        customer,
        [
            {"key": "approve", "type": "manual_approval"},
            {"key": "account", "type": "create_account", "depends_on": ["approve"]},
        ],
    )
    order = orders.order_run(order=order, at=AT)
    assert _step(order, "approve").status == StepStatus.WAITING
    assert orders.order_run(order=order, at=AT + timedelta(days=1)).status == "in_progress"
    order = orders.step_approve(step=_step(order, "approve"), at=AT, actor="ops")
    assert order.status == OrderStatus.COMPLETED
    assert _step(order, "approve").result["approved_by"] == "ops"


def test_skip_lets_dependents_run(customer, server):
    server.fail = 99
    order = _order(
        customer,
        [
            {"key": "hook", "type": "call_http", "config": {"url": server.url}},
            {"key": "account", "type": "create_account", "depends_on": ["hook"]},
        ],
    )
    orders.order_run(order=order, at=AT)
    order = orders.step_skip(step=_step(order, "hook"), at=AT, actor="ops")
    assert order.status == OrderStatus.COMPLETED
    assert _step(order, "hook").status == StepStatus.SKIPPED


def test_abandon_undoes_the_succeeded_steps_in_reverse(paying):
    order = _order(
        paying,
        [
            *DEFAULT_WORKFLOWS[OrderKind.ACTIVATE],
            {"key": "approve", "type": "manual_approval", "depends_on": ["api_key"]},
        ],
    )
    orders.order_run(order=order, at=AT)
    order = orders.order_abandon(order=order, at=AT, actor="ops")
    assert order.status == OrderStatus.COMPENSATED
    steps = {s.key: s.status for s in order.steps.all()}
    assert steps == {
        "account": "compensated",
        "entitlements": "compensated",
        "seats": "compensated",
        "api_key": "compensated",
        "approve": "waiting",
    }
    assert CustomerAccess.objects.get(customer=paying).status == "suspended"
    assert not ProvisionedEntitlement.objects.filter(customer=paying).exists()
    assert not SeatAssignment.objects.filter(customer=paying).exists()
    assert ServiceKey.objects.get(customer=paying).revoked_at == AT


# Cancel and deprovisioning
def test_cancel_deprovisions_after_the_grace_period(paying, settings):
    settings.PROVISIONING_DEPROVISION_GRACE_DAYS = 3
    orders.order_run(order=orders.order_create(customer=paying, kind="activate", at=AT), at=AT)
    paying.subscriptions.update(status="canceled")
    order = orders.order_run(
        order=orders.order_create(customer=paying, kind="cancel", at=AT), at=AT
    )
    assert order.status == OrderStatus.COMPLETED
    assert CustomerAccess.objects.get(customer=paying).deprovision_at == AT + timedelta(days=3)
    assert orders.deprovision_due(at=AT + timedelta(days=2)) == 0
    assert orders.deprovision_due(at=AT + timedelta(days=3)) == 1
    access = CustomerAccess.objects.get(customer=paying)
    assert access.status == "deprovisioned"
    assert not ProvisionedEntitlement.objects.filter(customer=paying).exists()
    assert orders.deprovision_due(at=AT + timedelta(days=4)) == 0


# API (the lead includes provisioning.api.orders_urls in config/urls.py; tested on its own)
urlpatterns = [path("api/v1/", include("provisioning.api.orders_urls"))]


@pytest.mark.urls("provisioning.tests.test_orders")
def test_orders_api_lists_and_shows_orders_with_steps(api, paying):
    order = orders.order_run(
        order=orders.order_create(customer=paying, kind="activate", at=AT), at=AT
    )
    other = factories.customer(external_id="other")
    orders.order_create(customer=other, kind="suspend", at=AT)
    response = api.get("/api/v1/orders/", {"customer": "acme", "status": "completed"})
    assert response.status_code == 200
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert [r["id"] for r in rows] == [order.pk]
    assert (
        api.get("/api/v1/orders/", {"kind": "suspend"}).json()["results"][0]["customer"] == "other"
    )
    detail = api.get(f"/api/v1/orders/{order.pk}/").json()
    assert detail["status"] == "completed"
    assert [s["key"] for s in detail["steps"]] == ["account", "entitlements", "seats", "api_key"]
    assert {s["status"] for s in detail["steps"]} == {"succeeded"}
    assert api.get("/api/v1/orders/999999/").status_code == 404


@pytest.mark.urls("provisioning.tests.test_orders")
def test_orders_api_filters_by_customer_id_or_external_id(api, paying):
    order = orders.order_create(customer=paying, kind="activate", at=AT)
    orders.order_create(customer=factories.customer(external_id="other"), kind="suspend", at=AT)
    for value in (str(paying.pk), "acme"):
        rows = api.get("/api/v1/orders/", {"customer": value}).json()["results"]
        assert [r["id"] for r in rows] == [order.pk]
    assert api.get("/api/v1/orders/", {"customer": "nobody"}).json()["results"] == []


def test_admin_module_loads_and_validates_workflows():
    from provisioning.admin_orders import WorkflowForm

    form = WorkflowForm(data={"kind": "activate", "steps": '[{"key": "a", "type": "nope"}]'})
    assert not form.is_valid()
    assert "Unknown step type" in str(form.errors["steps"])


# Admin actions (called directly: the lead imports provisioning.admin_orders in admin.py)
def _admin_request(admin_user):
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    request = RequestFactory().post("/")
    request.user, request.session = admin_user, {}
    request._messages = FallbackStorage(request)
    return request


def _messages(request) -> list[str]:
    return [str(m) for m in request._messages]


def test_admin_actions_call_the_services(customer, admin_user):
    from django.contrib.admin.sites import AdminSite

    from provisioning.admin_orders import FulfillmentStepAdmin, OrderAdmin

    order = _order(
        customer,
        [
            {"key": "approve", "type": "manual_approval"},
            {"key": "account", "type": "create_account", "depends_on": ["approve"]},
        ],
    )
    orders.order_run(order=order, at=AT)
    steps_admin, orders_admin = (
        FulfillmentStepAdmin(FulfillmentStep, AdminSite()),
        OrderAdmin(Order, AdminSite()),
    )
    request = _admin_request(admin_user)
    steps_admin.skip(request, FulfillmentStep.objects.filter(order=order, key="account"))
    steps_admin.approve(request, FulfillmentStep.objects.filter(order=order, key="approve"))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED
    assert _messages(request) == ["Skipped: 1.", "Approved: 1."]
    assert _step(order, "account").status == StepStatus.SKIPPED
    request = _admin_request(admin_user)
    orders_admin.retry(request, Order.objects.filter(pk=order.pk))
    assert "not possible (The order is completed.)" in _messages(request)[0]
    orders_admin.abandon(request, Order.objects.filter(pk=order.pk))
    assert "not possible" in _messages(request)[1]


def test_admin_abandon_compensates(customer, admin_user):
    from django.contrib.admin.sites import AdminSite

    from provisioning.admin_orders import OrderAdmin

    order = _order(
        customer,
        [
            {"key": "account", "type": "create_account"},
            {"key": "approve", "type": "manual_approval", "depends_on": ["account"]},
        ],
    )
    orders.order_run(order=order, at=AT)
    request = _admin_request(admin_user)
    OrderAdmin(Order, AdminSite()).abandon(request, Order.objects.filter(pk=order.pk))
    assert _messages(request) == ["Abandoned: 1."]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPENSATED
    assert CustomerAccess.objects.get(customer=customer).status == "suspended"
