"""The Content-Security-Policy: every portal and admin page (and the API docs) answers with
it, and no page carries inline code the policy would refuse (an inline <script> or <style>
without the request's nonce, a style="" attribute, an on…="" handler, a javascript: link).
The browser side is in test_csp_browser.py."""

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.tests.payment_helpers import card, open_invoice

HEADER = "Content-Security-Policy"
STRIPE_JS = {"https://js.stripe.com", "https://*.js.stripe.com"}
EXPECTED = {
    "default-src": {"'self'"},
    "script-src": {"'self'"} | STRIPE_JS,
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "font-src": {"'self'"},
    "connect-src": {"'self'", "https://api.stripe.com"},
    "frame-src": STRIPE_JS | {"https://hooks.stripe.com"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
    "base-uri": {"'self'"},
    "object-src": {"'none'"},
}
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}  # data, never run


def directives(response) -> dict[str, list[str]]:
    assert HEADER in response, f"{response.request['PATH_INFO']}: no {HEADER} header"
    parsed = {}
    for part in response[HEADER].split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def nonce_of(policy: dict) -> str | None:
    nonces = {s for s in policy.get("script-src", []) if s.startswith("'nonce-")}
    assert len(nonces) <= 1
    return next(iter(nonces), None)


# Admin pages allowed a little more, and why: the notice preview frames the mail's own HTML
# (its inline styles allowed in that sandboxed document alone, billing/notices/admin.py).
ADMIN_PAGE_EXTRAS = {"customers_notice_previews": {"frame-src": {"'self'"}}}


def assert_policy(response, extra: dict | None = None) -> dict:
    """The header has exactly the expected directives (a per-request nonce aside)."""
    policy = directives(response)
    expected = {k: set(v) for k, v in EXPECTED.items()}
    for name, sources in (extra or {}).items():
        expected.setdefault(name, set()).update(sources)
    found = {
        name: {s for s in sources if not s.startswith("'nonce-")}
        for name, sources in policy.items()
        if name != "upgrade-insecure-requests"
    }
    assert found == expected, response.request["PATH_INFO"]
    for sources in policy.values():
        assert "'unsafe-inline'" not in sources
        assert "'unsafe-eval'" not in sources
    return policy


class InlineFinder(HTMLParser):
    """What in a page needs 'unsafe-inline' (or a nonce it does not carry)."""

    def __init__(self, nonce: str | None):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=…>")
            if name == "style":
                self.found.append(f'<{tag} style="{value}">')
            if name in ("href", "src", "action") and (value or "").lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value}>")
        has_nonce = self.nonce and f"'nonce-{attributes.get('nonce')}'" == self.nonce
        if tag == "script" and "src" not in attributes and not has_nonce:
            if (attributes.get("type") or "").lower() not in DATA_SCRIPT_TYPES:
                self.found.append("<script> inline")
        if tag == "style" and not has_nonce:
            self.found.append("<style> inline")


def assert_no_inline(response):
    policy = directives(response)
    finder = InlineFinder(nonce_of(policy))
    finder.feed(response.content.decode())
    assert finder.found == [], response.request["PATH_INFO"]


def check_page(client: Client, url: str, extra: dict | None = None):
    response = client.get(url)
    assert response.status_code == 200, url
    assert_policy(response, extra)
    assert_no_inline(response)
    return response


@pytest.fixture
def owner_client(acme):
    return acme.client()


PORTAL_PAGES = [
    "portal:overview",
    "portal:terms",
    "portal:invoices",
    "portal:payment_methods",
    "portal:subscriptions",
    "portal:team",
    "portal:api_keys",
]


@pytest.mark.parametrize("name", PORTAL_PAGES)
def test_portal_pages_carry_the_policy_and_nothing_inline(owner_client, name):
    check_page(owner_client, reverse(name))


def test_subscription_and_pay_pages(owner_client, acme):
    check_page(owner_client, reverse("portal:subscription", args=[acme.subscription.pk]))
    now = timezone.now()
    card(acme.customer, at=now)
    invoice = open_invoice(acme.customer, amount="40.00", at=now)
    page = check_page(owner_client, reverse("portal:invoice_pay", args=[invoice.pk]))
    assert b"data-submit-once" in page.content  # the double-click guard, now in portal.js


@pytest.mark.parametrize(
    "name", ["portal:login", "portal:password_reset", "portal:password_reset_done"]
)
def test_signed_out_pages(client, name):
    check_page(client, reverse(name))


def test_front_page_and_admin_sign_in(client):
    check_page(client, "/")
    check_page(client, reverse("admin:login"))


def test_usage_bars_draw_without_a_style_attribute(owner_client, acme, catalog):
    from portal.tests.test_account import quota_limit
    from provisioning.tests.entitlement_helpers import use

    quota_limit(acme, catalog, 10)
    use(acme.subscription, "api_calls", 9, at=timezone.now())
    page = check_page(owner_client, reverse("portal:overview")).content.decode()
    assert 'class="bar near"' in page
    assert '<rect width="90" height="1"/>' in page  # 90% of the bar's width, as SVG


def test_api_docs_swagger_ui_needs_no_exception(client):
    page = check_page(client, "/api/docs/")
    assert b'src="/api/docs/?script=' in page.content
    script = client.get("/api/docs/?script=")  # the start-up script, as a file
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
    # No validator badge (an <img> from validator.swagger.io once not on localhost).
    assert b'"validatorUrl": "none"' in script.content


def test_https_adds_upgrade_insecure_requests_next_to_hsts(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    plain = client.get("/portal/login/")
    assert "upgrade-insecure-requests" not in directives(plain)
    assert "Strict-Transport-Security" not in plain
    secure = client.get("/portal/login/", secure=True)
    assert "upgrade-insecure-requests" in directives(secure)
    assert_policy(secure)
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_nonce_is_sent_only_when_a_page_uses_one(client):
    policy = directives(client.get("/portal/login/"))
    assert nonce_of(policy) is None  # no page of ours needs one today


# The admin: every page each registered model admin serves without an argument (change
# lists, add forms, the extra pages), change forms of real rows, the dashboard, the 360.


def admin_pages_without_arguments():
    for _model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            route = str(pattern.pattern)
            if "<" in route or not pattern.name:
                continue
            yield pattern.name


@pytest.fixture
def superuser_client(db):
    user = get_user_model().objects.create_superuser("csp-admin", "csp@example.com", "x")
    client = Client()
    client.force_login(user)
    return client


def test_every_admin_page_carries_the_policy_and_nothing_inline(superuser_client):
    names = sorted(set(admin_pages_without_arguments()))
    assert len(names) > 40  # ours and dj-stripe's
    checked = 0
    for name in names:
        response = superuser_client.get(reverse(f"admin:{name}"))
        assert_policy(response, ADMIN_PAGE_EXTRAS.get(name))
        if response.status_code == 200:
            assert_no_inline(response)
            checked += 1
    assert checked > 40


def test_admin_index_dashboard_360_and_change_forms(superuser_client, acme):
    customer, sub = acme.customer, acme.subscription
    invoice = open_invoice(customer, amount="25.00", at=timezone.now())
    for url in [
        reverse("admin:index"),
        reverse("reports:customer_360", args=[customer.pk]),
        reverse("admin:customers_customer_change", args=[customer.pk]),
        reverse("admin:billing_invoice_change", args=[invoice.pk]),
        reverse("admin:billing_subscription_change", args=[sub.pk]),
        reverse("admin:billing_invoice_history", args=[invoice.pk]),
        reverse("admin:app_list", args=["billing"]),
    ]:
        check_page(superuser_client, url)
    index = superuser_client.get(reverse("admin:index")).content.decode()
    assert "staff-dashboard" in index
    assert "reports/console.css" in index


def test_the_inline_finder_finds_what_the_policy_refuses():
    finder = InlineFinder("'nonce-abc'")
    finder.feed(
        '<p style="margin:0" onclick="x()"><a href="javascript:x()">a</a></p>'
        "<script>x()</script><style>p{}</style>"
        '<script nonce="abc">ok()</script><style nonce="abc"></style>'
        '<script src="/static/a.js"></script><script type="application/json">{}</script>'
    )
    assert finder.found == [
        '<p style="margin:0">',
        "<p onclick=…>",
        "<a href=javascript:x()>",
        "<script> inline",
        "<style> inline",
    ]


def test_djstripe_confirmation_page_has_nothing_inline(superuser_client):
    """dj-stripe's "Sync all" confirmation (templates/djstripe/admin/confirm_action.html):
    its spinner and handlers come from reports/static/reports/djstripe-admin.js."""
    response = superuser_client.post(
        reverse("admin:djstripe_customer_changelist"), {"action": "_sync_all_instances"}
    )
    assert response.status_code == 200
    assert b"Are you sure you want to sync all instances?" in response.content
    assert b"reports/djstripe-admin.js" in response.content
    assert_policy(response)
    assert_no_inline(response)
