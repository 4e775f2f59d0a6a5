"""The billing ↔ provisioning lifecycle end to end, through the event log, with a REAL django-q2
cluster (`qcluster` in a subprocess on this test's SQLite file / PostgreSQL database).

Billing records events in this process; their transaction's on-commit queues
`provisioning.tasks.billing_events_consume_task` (the fast path) into the ORM broker; the
cluster consumes them and runs the orders. The cluster is started with
BILLING_EVENT_CONSUMERS set (as config/settings.py will have it), so events recorded by its own
tasks (a dunning retry that pays) take the fast path too. Slow-ish (a cluster start ≈ 2 s)."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ
from django_q.tasks import async_task

from billing.dunning.jobs import dunning_run
from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.subscription_billing import subscription_cancel, subscription_create
from billing.models import BillingEvent, DunningCampaign, DunningCase, Invoice, Subscription
from billing.payments.services.methods import payment_method_attach
from billing.payments.services.payments import payment_collect
from billing.tests import factories
from billing.tests.payment_helpers import customer_with_card, renewal_invoice
from catalog.models import Entitlement
from catalog.tests import factories as catalog_factories
from provisioning.models import (
    CustomerAccess,
    FulfillmentStep,
    Order,
    ProvisionedEntitlement,
    ServiceKey,
    Workflow,
)
from provisioning.services.access import access_check
from provisioning.services.orders import deprovision_due

pytestmark = pytest.mark.django_db(transaction=True)
CONSUMER = "provisioning.tasks.billing_events_consume_task"
ROOT = Path(__file__).resolve().parents[2]
BOOT = (
    "import django, sys; from django.conf import settings; django.setup(); "
    f"settings.BILLING_EVENT_CONSUMERS = [{CONSUMER!r}]; "
    "from django.core.management import call_command; call_command('qcluster')"
)


class CountingServer:
    """A local HTTP endpoint that counts requests and effects per Idempotency-Key (a replayed
    key gets the first answer and no new effect). `fail` answers 500 that many times;
    `delay` seconds before answering; `/health` answers `healthy`."""

    def __init__(self, fail=0, delay=0.0, healthy=True):
        self.requests, self.effects = Counter(), Counter()
        self.fail, self.delay, self.healthy = fail, delay, healthy
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                self.send_response(200 if server.healthy else 503)
                self.end_headers()

            def do_POST(self):  # noqa: N802
                key = self.headers.get("Idempotency-Key", "")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests[key] += 1
                if server.delay:
                    threading.Event().wait(server.delay)
                if server.fail:
                    server.fail -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                if not server.effects[key]:
                    server.effects[key] += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"ok": True}).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Cluster:
    """`qcluster` in its own process group (killed whole, like a lost machine)."""

    def __init__(self, log: Path):
        self.log, self.proc = log, None

    def start(self):
        db = connection.settings_dict
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "Q_WORKERS": "2"}
        env["Q_SYNC"] = "false"
        env["OUTBOUND_ALLOWED_HOSTS"] = "127.0.0.1"  # the test's CountingServer
        if db["ENGINE"].endswith("sqlite3"):
            env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
            # billing's tasks read then write in deferred transactions: two SQLite writers
            # at once fail with "database is locked", so one worker there
            env["Q_WORKERS"] = "1"
        else:
            env["DATABASE_URL"] = (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                f"{db['NAME']}"
            )
        out = self.log.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", BOOT],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


@pytest.fixture
def cluster(tmp_path, settings):
    settings.BILLING_EVENT_CONSUMERS = [CONSUMER]
    c = Cluster(tmp_path / "qcluster.log")
    c.start()
    yield c
    c.stop()


def wait_for(check, timeout=20.0, what="the condition", detail=None):
    """Poll `check()` until truthy; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}. {detail and detail()}")


def settle(customer, timeout=30.0):
    """Wait until the cluster is idle (no queued task, the customer's orders finished): on
    SQLite a write here while the cluster writes can fail with "database is locked"."""
    wait_for(
        lambda: (
            not OrmQ.objects.exists()
            and not Order.objects.filter(customer=customer, status__in=["received", "in_progress"])
        ),
        timeout,
        "the cluster to settle",
    )
    time.sleep(1.0)  # a task just taken off the queue may still be writing


def access_status(customer) -> str | None:
    access = CustomerAccess.objects.filter(customer=customer).first()
    return access.status if access else None


def orders_of(customer) -> list:
    return [
        (
            o.kind,
            o.status,
            o.source_event and o.source_event.kind,
            o.error,
            [(s.key, s.status, s.result, s.last_error) for s in o.steps.all()],
        )
        for o in Order.objects.filter(customer=customer).order_by("pk")
    ]


def features(customer) -> set[str]:
    rows = ProvisionedEntitlement.objects.filter(customer=customer, enabled=True)
    return set(rows.values_list("feature__code", flat=True))


@pytest.fixture
def plans():
    sso = catalog_factories.feature(code="sso")
    audit = catalog_factories.feature(code="audit_log")
    basic, pro = factories.plan(code="basic", amount="10.00"), factories.plan(code="pro")
    Entitlement.objects.create(plan=basic, feature=sso)
    Entitlement.objects.create(plan=pro, feature=sso)
    Entitlement.objects.create(plan=pro, feature=audit)
    return basic, pro


def signed_up(plan, token="tok_visa"):  # noqa: S107
    customer, _ = customer_with_card(token=token)
    sub = subscription_create(customer=customer, plan=plan, at=timezone.now())
    return customer, sub


def test_sign_up_pay_provisioned_within_seconds_then_upgrade_and_cancel(cluster, plans):
    basic, pro = plans
    customer, sub = signed_up(basic)
    took = wait_for(lambda: access_status(customer) == "active" and features(customer), 15)
    assert took < 10
    wait_for(lambda: Order.objects.filter(customer=customer, status="completed").exists())
    assert features(customer) == {"sso"}
    assert ServiceKey.objects.filter(customer=customer).count() == 1
    settle(customer)

    subscription_change(subscription=sub, plan=pro, at=timezone.now())
    took = wait_for(lambda: "audit_log" in features(customer), 15, "the upgrade")
    assert took < 10
    assert access_check(feature_code="audit_log", customer=customer, at=timezone.now()).allowed

    settle(customer)
    sub.refresh_from_db()
    subscription_cancel(subscription=sub, at=timezone.now(), when="immediately")
    wait_for(
        lambda: CustomerAccess.objects.filter(customer=customer, deprovision_at__isnull=False),
        15,
        "the cancel order",
    )
    settle(customer)
    deprovision_at = CustomerAccess.objects.get(customer=customer).deprovision_at
    assert deprovision_at > timezone.now() + timedelta(days=6)  # the grace period
    assert access_status(customer) == "active"
    assert deprovision_due(at=deprovision_at - timedelta(minutes=1)) == 0
    assert deprovision_due(at=deprovision_at) == 1
    assert access_status(customer) == "deprovisioned", orders_of(customer)
    assert features(customer) == set()
    assert not access_check(feature_code="sso", customer=customer, at=deprovision_at).allowed
    kinds = Order.objects.filter(customer=customer).order_by("pk").values_list("kind", "status")
    assert list(kinds) == [
        ("activate", "completed"),
        ("change", "completed"),
        ("cancel", "completed"),
        ("deprovision", "completed"),
    ]


def test_a_declined_first_charge_is_incomplete_without_access_until_paid(cluster, plans):
    customer, sub = signed_up(plans[0], token="tok_chargeDeclinedInsufficientFunds")  # noqa: S106
    # provisioned when the create call returned (see test_access_on_commit.py), then the
    # worker's charge declines: incomplete, its access suspended
    wait_for(lambda: Subscription.objects.get(pk=sub.pk).status == "incomplete", 20, "incomplete")
    wait_for(lambda: access_status(customer) == "suspended", 15, "the suspension")
    assert not DunningCase.objects.filter(customer=customer).exists()
    settle(customer)
    method = payment_method_attach(
        customer=customer, gateway="sandbox", token="tok_visa", make_default=True, at=timezone.now()
    )
    invoice = Invoice.objects.get(pk=sub.first_invoice_id)
    assert payment_collect(invoice=invoice, at=timezone.now(), method=method).status == "succeeded"
    assert Subscription.objects.get(pk=sub.pk).status == "active"
    wait_for(lambda: access_status(customer) == "active", 15, "the access granted again")
    assert access_check(feature_code="sso", customer=customer, at=timezone.now()).allowed
    settle(customer)
    kinds = Order.objects.filter(customer=customer).order_by("pk").values_list("kind", "status")
    assert list(kinds) == [
        ("activate", "completed"),
        ("suspend", "completed"),
        ("activate", "completed"),
    ]


def test_payment_fails_dunning_suspends_then_a_new_card_restores(cluster, plans):
    DunningCampaign.objects.filter(code="default").update(final_action="suspend")
    customer, sub = signed_up(plans[0])
    wait_for(lambda: Invoice.objects.get(pk=sub.first_invoice_id).status == "paid", 20, "paid")
    settle(customer)
    payment_method_attach(
        customer=customer,
        gateway="sandbox",
        token="tok_chargeDeclinedInsufficientFunds",  # noqa: S106
        make_default=True,
        at=timezone.now(),
    )
    renewal_invoice(sub, at=timezone.now())  # a renewal's charge declines: dunning
    wait_for(lambda: Subscription.objects.get(pk=sub.pk).status == "past_due", 20, "past due")
    assert access_status(customer) == "active"  # past due keeps access
    settle(customer)
    now = timezone.now()
    for day in (1, 3, 5, 7, 8):
        dunning_run(at=now + timedelta(days=day))
    assert Subscription.objects.get(pk=sub.pk).status == "suspended"
    wait_for(lambda: access_status(customer) == "suspended", 15, "suspension")
    denied = access_check(feature_code="sso", customer=customer, at=timezone.now())
    assert (denied.allowed, denied.reason) == (False, "suspended")
    settle(customer)

    payment_method_attach(
        customer=customer, gateway="sandbox", token="tok_visa", make_default=True, at=now
    )
    # the case is exhausted (nothing retries any more): the customer pays with the new card
    invoice = Invoice.objects.get(customer=customer, status="open")
    assert payment_collect(invoice=invoice, at=timezone.now()).status == "succeeded"
    wait_for(
        lambda: access_status(customer) == "active",
        30,
        "the restore",
        lambda: (
            Subscription.objects.get(pk=sub.pk).status,
            list(BillingEvent.objects.filter(customer=customer).values_list("pk", "kind")),
            orders_of(customer),
        ),
    )
    assert Subscription.objects.get(pk=sub.pk).status == "active"
    assert access_check(feature_code="sso", customer=customer, at=timezone.now()).allowed
    kinds = list(
        Order.objects.filter(customer=customer).order_by("pk").values_list("kind", flat=True)
    )
    assert kinds == ["activate", "suspend", "restore"]


def test_a_worker_killed_mid_order_resumes_without_duplicating_a_step(cluster, plans, tmp_path):
    server = CountingServer(delay=3.0)
    try:
        Workflow.objects.create(
            product=None,
            kind="activate",
            steps=[
                {"key": "account", "type": "create_account"},
                {
                    "key": "hook",
                    "type": "call_http",
                    "depends_on": ["account"],
                    "config": {"url": server.url + "/provision", "timeout": 5},
                },
                {"key": "entitlements", "type": "grant_entitlements", "depends_on": ["hook"]},
                {
                    "key": "api_key",
                    "type": "issue_api_key",
                    "depends_on": ["hook"],
                    "config": {"name": "Default", "scopes": ["read"]},
                },
            ],
        )
        customer, _ = signed_up(plans[0])
        wait_for(lambda: sum(server.requests.values()) == 1, 20, "the HTTP call")
        cluster.kill()  # mid-request: the step is running, its worker gone
        order = Order.objects.get(customer=customer)
        hook = FulfillmentStep.objects.get(order=order, key="hook")
        assert (order.status, hook.status, hook.attempts) == ("in_progress", "running", 1)

        cluster.start()
        time.sleep(5 + 5 + 0.5)  # the step's timeout + the stale margin
        async_task("provisioning.tasks.orders_run_due_task")  # the minute sweep
        wait_for(lambda: Order.objects.get(pk=order.pk).status == "completed", 30, "the resume")
        steps = {s.key: s for s in order.steps.all()}
        assert {k: s.status for k, s in steps.items()} == dict.fromkeys(steps, "succeeded")
        assert {k: s.attempts for k, s in steps.items()} == {
            "account": 1,
            "hook": 2,
            "entitlements": 1,
            "api_key": 1,
        }
        assert server.requests == {hook.idempotency_key: 2}  # sent again, same key
        assert server.effects == {hook.idempotency_key: 1}  # done once
        assert ServiceKey.objects.filter(customer=customer).count() == 1
        assert access_status(customer) == "active"
        mailed = cluster.log.read_text(errors="replace")  # the console mail backend's output
        assert "was issued" in mailed  # where to reveal the key, and not the key
        assert not re.search(r"ck_live_[A-Za-z0-9_\-]", mailed)
    finally:
        server.close()
