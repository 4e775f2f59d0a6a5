"""The Content-Security-Policy in a real Chromium: the portal's, the admin's and the API docs'
pages raise no violation while used (htmx's live preview included), and the policy lets
Stripe.js's script and frames load (served here by Playwright's routing: no network)."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from billing.invoicing.services.changes import subscription_change
from billing.invoicing.services.documents import money
from billing.tests.payment_helpers import card, open_invoice
from portal.tests.conftest import sign_in
from portal.tests.test_account import quota_limit
from provisioning.tests.entitlement_helpers import use

pytestmark = pytest.mark.django_db(transaction=True)

# Each violation the page sees, reported on the console (Chromium also logs its own
# "Refused to … Content Security Policy" line; both are collected).
LISTENER = """
window.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.effectiveDirective + " blocked " + (e.blockedURI || "?")
    + " in " + e.sourceFile + ":" + e.lineNumber + " " + (e.sample || ""));
});
"""


@pytest.fixture
def violations(page):
    """The CSP violations (and script errors) `page` has seen so far (a list that grows
    as it browses)."""
    seen = []

    def on_console(message):
        text = message.text
        if "Content Security Policy" in text or text.startswith("CSP violation"):
            seen.append(f"{page.url}: {text}")

    page.add_init_script(LISTENER)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.append(f"{page.url}: script error {error}"))
    return seen


def visit(page, url: str, ready: str = "body"):
    page.goto(url)
    page.locator(ready).first.wait_for()
    page.wait_for_load_state("load")


def test_the_portal_under_the_policy_with_htmx_preview(page, violations, acme, catalog):
    now = timezone.now()
    card(acme.customer, at=now)
    invoice = open_invoice(acme.customer, amount="40.00", at=now)
    expected = subscription_change(
        subscription=acme.subscription, at=now, plan=catalog.pro, preview=True
    )
    total = money(sum(line.amount for line in expected.proration_lines), "USD")
    quota_limit(acme, catalog, 10)
    use(acme.subscription, "api_calls", 9, at=now)

    visit(page, "/")
    sign_in(page, acme.owner.user.email)  # the sign-in page, then the overview
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("htmx.config.allowEval") is False
    assert page.locator("style").count() == 0  # htmx injected no <style>

    page.get_by_role("link", name="Subscriptions").click()
    page.get_by_role("link", name="Manage").click()
    page.get_by_label("Plan", exact=True).select_option(label="Pro — 30.00 USD per month")
    preview = page.locator("#preview")  # htmx swaps the preview in under the policy
    preview.get_by_role("button", name="Confirm change").wait_for()
    assert preview.get_by_test_id("preview-total").inner_text() == total

    visit(page, "/portal/payment-methods/", "#add-h")
    assert page.get_by_role("heading", name="Add a card (sandbox)").is_visible()
    visit(page, "/portal/invoices/", f'tr[data-invoice="{invoice.number}"]')
    visit(page, f"/portal/invoices/{invoice.pk}/pay/", "#pay-form")
    for url in ["/portal/team/", "/portal/api-keys/", "/portal/terms/", "/portal/"]:
        visit(page, url, "main h1")
    # The usage bar without style="width: 90%": an SVG rect 90% as wide, in amber.
    bar = page.locator(".bar.near")
    width = bar.bounding_box()["width"]
    assert abs(bar.locator("rect").bounding_box()["width"] - 0.9 * width) < 2
    assert bar.locator("rect").evaluate("r => getComputedStyle(r).fill") == "rgb(154, 103, 0)"
    assert violations == []

    # The double-click guard, moved to portal.js: a form's second submit is held back.
    visit(page, f"/portal/invoices/{invoice.pk}/pay/", "#pay-form")
    held_back = page.evaluate(
        """() => {
          const form = document.getElementById("pay-form");
          const submit = () => {
            const event = new Event("submit", {bubbles: true, cancelable: true});
            form.dispatchEvent(event);  // a script's event: runs the handlers, sends nothing
            return event.defaultPrevented;
          };
          const seen = [submit(), submit()];
          delete form.dataset.sent;
          return seen;
        }"""
    )
    assert held_back == [False, True]
    page.get_by_role("button", name="Pay 40.00 USD").click()
    page.get_by_role("heading", name="Paid").wait_for()
    assert violations == []


# Stands in for https://js.stripe.com/v3/ (no network here): like Stripe.js, it mounts the
# Payment Element as an iframe from js.stripe.com and confirms through api.stripe.com.
FAKE_STRIPE_JS = """
window.Stripe = function (key) {
  return {
    elements: function (options) {
      return { create: function (kind) { return { mount: function (selector) {
        var frame = document.createElement("iframe");
        frame.src = "https://js.stripe.com/v3/elements-inner-payment.html#" + key;
        frame.title = "Secure payment input frame";
        document.querySelector(selector).appendChild(frame);
      } }; } };
    },
    confirmSetup: function (params) {
      return fetch("https://api.stripe.com/v1/setup_intents/seti_123abc/confirm", {method: "POST"})
        .then(function () { return { setupIntent: { id: "seti_123abc" } }; });
    }
  };
};
"""


def stripe_hosts_answer(context):
    def js_stripe(route):
        if route.request.url.endswith("/v3/"):
            route.fulfill(body=FAKE_STRIPE_JS, content_type="text/javascript")
        else:
            route.fulfill(body="<p>card fields</p>", content_type="text/html")

    context.route("https://js.stripe.com/**", js_stripe)
    context.route(
        "https://api.stripe.com/**",
        lambda route: route.fulfill(
            body="{}", content_type="application/json", headers={"access-control-allow-origin": "*"}
        ),
    )
    context.route("https://*.example.net/**", lambda route: route.fulfill(body="x"))


def test_stripe_elements_load_and_save_a_card_under_the_policy(page, violations, acme, settings):
    """Stripe Elements cannot load offline: Playwright answers for Stripe's hosts, so what is
    tested is our page and stripe-setup.js under our header, with Stripe's script, frame and
    API origins (the card is then stored by the fake adapter of test_billing.py)."""
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_fake"  # noqa: S105
    settings.STRIPE_TEST_PUBLIC_KEY = "pk_test_fake"
    settings.PAYMENT_ADAPTERS = {"stripe": "portal.tests.test_billing.FakeStripe"}
    stripe_hosts_answer(page.context)
    sign_in(page, acme.owner.user.email)
    visit(page, "/portal/payment-methods/", "#stripe-form")
    page.locator("#payment-element iframe").wait_for()
    frames = [frame.url for frame in page.frames]
    assert "https://js.stripe.com/v3/elements-inner-payment.html#pk_test_fake" in frames
    page.get_by_role("button", name="Save card").click()  # stripe-setup.js confirms, posts
    page.get_by_text("Visa •••• 1881 04/2031 added.").wait_for()
    assert violations == []

    # Anything else is refused, and reported (the collector does see violations).
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.src = "https://cdn.example.net/x.js";
          document.head.append(script);
          const frame = document.createElement("iframe");
          frame.src = "https://frames.example.net/";
          document.body.append(frame);
          const style = document.createElement("style");
          style.textContent = "body { color: red }";
          document.head.append(style);
          fetch("https://api.example.net/").catch(() => null);
        }"""
    )
    page.wait_for_timeout(500)
    refused = " ".join(violations)
    for host in ["cdn.example.net", "frames.example.net", "api.example.net"]:
        assert host in refused
    assert "style-src" in refused


def test_the_admin_dashboard_and_api_docs_under_the_policy(page, violations, acme):
    customer, sub = acme.customer, acme.subscription
    invoice = open_invoice(customer, amount="25.00", at=timezone.now())
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-9")
    visit(page, "/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-root-9")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    page.locator("#dashboard-ageing svg").wait_for()  # the reports dashboard on the index
    assert page.locator(".dashboard-cards").evaluate("e => getComputedStyle(e).display") == "grid"

    visit(page, "/admin/billing/invoice/", "#changelist")
    page.locator(f'input[name="_selected_action"][value="{invoice.pk}"]').check()
    assert page.locator(".action-counter").inner_text().startswith("1 of")  # admin JS runs
    visit(page, f"/admin/billing/invoice/{invoice.pk}/change/", "#content-main")
    visit(page, f"/admin/billing/subscription/{sub.pk}/change/", "#content-main")
    visit(page, "/admin/customers/customer/", "#changelist")
    visit(page, f"/admin/reports/customers/{customer.pk}/", "#c360-invoices")
    visit(page, "/admin/billing/banktransfer/reconciliation/", "#content")
    visit(page, "/admin/billing/billrun/run/", "#content")
    visit(page, "/admin/djstripe/customer/add/", ".stripe-confirmation-warning")
    visit(page, "/admin/djstripe/customer/", "#changelist")
    page.locator('select[name="action"]').select_option("_sync_all_instances")
    page.get_by_role("button", name="Go").click()
    page.get_by_role("heading", name="Are you Sure?").wait_for()  # dj-stripe's, restyled
    assert page.locator("#div_spinner").is_hidden()
    visit(page, "/admin/auth/user/add/", "#content-main")
    root = get_user_model().objects.get(username="root")
    visit(page, f"/admin/auth/user/{root.pk}/change/", "#calendarlink0")
    page.locator("#calendarlink0").click()  # the admin's date picker: a popup built by JS
    page.locator("#calendarbox0").wait_for()
    assert page.locator("#calendarbox0").is_visible()
    page.locator("#clocklink0").click()
    page.locator("#clockbox0").wait_for()
    assert violations == []

    visit(page, "/api/docs/", "#swagger-ui")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Billing and provisioning API" in page.locator(".swagger-ui .info").inner_text()
    page.locator(".opblock-tag").first.wait_for()
    page.locator(".opblock-summary").first.click()  # expand an operation
    page.locator(".opblock-body").first.wait_for()
    assert violations == []
