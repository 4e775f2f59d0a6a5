"""The site's URLconf mounts the console pages under /admin/reports/, before the admin's
catch-all, with the admin's login."""

import pytest
from django.urls import resolve, reverse

pytestmark = pytest.mark.django_db


def test_customer_360_is_mounted_before_the_admin(client, admin_user):
    from billing.tests import factories

    customer = factories.customer()
    url = reverse("reports:customer_360", args=[customer.pk])
    assert url == f"/admin/reports/customers/{customer.pk}/"
    assert resolve(url).namespace == "reports"
    assert client.get(url).status_code == 302  # to the admin login
    client.force_login(admin_user)
    assert client.get(url).status_code == 200
    index = client.get(reverse("admin:index")).content.decode()
    assert "staff-dashboard" in index
