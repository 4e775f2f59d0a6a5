"""Every portal page a customer can open: each form field has a label (or an aria-label),
ids are unique, the page has one h1 and a language, and every POST form carries a CSRF
token. Run over the pages as an owner sees them (the role that sees every form)."""

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from billing.tests.payment_helpers import card, open_invoice
from customers.models import CustomerRole

FIELDS = {"input", "select", "textarea"}
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class PageAudit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields, self.label_for, self.ids, self.h1 = [], set(), [], 0
        self.lang = None
        self.open_labels = 0
        self.forms = []  # [method, has_csrf]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag == "form":
            self.forms.append([a.get("method", "get").lower(), False])
        elif tag in FIELDS:
            if a.get("name") == "csrfmiddlewaretoken" and self.forms:
                self.forms[-1][1] = True
            if tag == "input" and a.get("type", "text") in UNLABELLED_TYPES:
                return
            self.fields.append((tag, a, self.open_labels > 0))

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels -= 1

    def problems(self) -> list[str]:
        found = []
        for tag, a, wrapped in self.fields:
            named = a.get("aria-label") or a.get("aria-labelledby") or a.get("title")
            if not (wrapped or named or a.get("id") in self.label_for):
                found.append(f"<{tag} name={a.get('name')!r}> has no label")
        dupes = {i for i in self.ids if self.ids.count(i) > 1}
        if dupes:
            found.append(f"duplicate ids {sorted(dupes)}")
        if self.h1 != 1:
            found.append(f"{self.h1} h1 headings")
        if not self.lang:
            found.append("no lang on <html>")
        found += [
            f"a POST form without a CSRF token #{n}"
            for n, (m, ok) in enumerate(self.forms)
            if m == "post" and not ok
        ]
        return found


def audit(html: str) -> list[str]:
    parser = PageAudit()
    parser.feed(html)
    return parser.problems()


@pytest.fixture
def owner(acme, catalog):
    card(acme.customer)
    acme.invoice = open_invoice(acme.customer, "12.00")
    acme.user(CustomerRole.MEMBER)
    return acme


def pages(acme) -> list[str]:
    sub = acme.subscription.pk
    return [
        reverse("portal:overview"),
        reverse("portal:subscriptions"),
        reverse("portal:subscription", kwargs={"pk": sub}),
        reverse("portal:invoices"),
        reverse("portal:invoice_pay", kwargs={"pk": acme.invoice.pk}),
        reverse("portal:payment_methods"),
        reverse("portal:team"),
        reverse("portal:api_keys"),
        reverse("portal:terms"),
    ]


def test_every_portal_page_is_labelled_and_protected(owner):
    client = owner.client(CustomerRole.OWNER)
    for url in pages(owner):
        response = client.get(url)
        assert response.status_code == 200, url
        assert audit(response.content.decode()) == [], url


@pytest.mark.parametrize("url", ["/portal/login/", "/portal/password-reset/", "/portal/reset/x/y/"])
def test_the_signed_out_pages_are_labelled_too(db, url):
    response = Client().get(url, follow=True)
    assert response.status_code == 200
    assert audit(response.content.decode()) == []


def test_the_audit_finds_what_it_looks_for():
    bad = (
        '<html><body><h1>a</h1><h1>b</h1><form method="post">'
        '<input name="x" id="d"><span id="d"></span></form></body></html>'
    )
    assert audit(bad) == [
        "<input name='x'> has no label",
        "duplicate ids ['d']",
        "2 h1 headings",
        "no lang on <html>",
        "a POST form without a CSRF token #0",
    ]
