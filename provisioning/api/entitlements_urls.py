"""Routes of entitlements and the access check; included under /api/v1/.

`access/check` is the documented path (no trailing slash); `access/check/` answers too."""

from django.urls import path

from provisioning.api import entitlements

urlpatterns = [
    path(
        "customers/<str:customer>/entitlements/",
        entitlements.CustomerEntitlementViewSet.as_view({"get": "list"}),
        name="customer-entitlements",
    ),
    path(
        "access/check",
        entitlements.AccessCheckViewSet.as_view({"post": "create"}),
        name="access-check",
    ),
    path(
        "access/check/",
        entitlements.AccessCheckSlashViewSet.as_view({"post": "create"}),
        name="access-check-slash",
    ),
]
