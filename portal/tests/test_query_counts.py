"""Every portal page costs the same number of queries however many invoices and members
the customer has (no query per row)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.tests.payment_helpers import card, open_invoice
from customers.models import CustomerRole

PAGES = ["overview", "subscriptions", "invoices", "payment_methods", "team", "api_keys", "terms"]


def queries_per_page(account) -> dict[str, int]:
    client = account.client()
    urls = {name: reverse(f"portal:{name}") for name in PAGES}
    urls["subscription"] = reverse("portal:subscription", kwargs={"pk": account.subscription.pk})
    counts = {}
    for name, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200, url
        counts[name] = len(queries)
    return counts


def test_page_queries_do_not_grow_with_rows(acme):
    card(acme.customer)

    def add_rows(first: int, n: int) -> None:
        for i in range(first, first + n):
            open_invoice(acme.customer, "5.00")
            acme.user(CustomerRole.MEMBER, email=f"member{i}@acme.example.com")

    add_rows(0, 1)
    few = queries_per_page(acme)
    add_rows(1, 9)
    assert queries_per_page(acme) == few
    # The overview's next invoice is taxed: the seller's tax set-up costs 3 queries.
    assert max(few.values()) <= 23, few
