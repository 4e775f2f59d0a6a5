"""Billing's API routes, each package's own; included under /api/v1/ by config/urls.py."""

from django.urls import include, path

urlpatterns = [
    path("", include("billing.invoicing.api.urls")),
    path("", include("billing.usage.urls")),
    path("", include("billing.payments.api.urls")),
    path("", include("billing.tax.api.urls")),
]
