"""Routes of the tax settings and registrations; included under /api/v1/ by billing/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.tax.api import views

router = SimpleRouter()
router.register("tax/registrations", views.TaxRegistrationViewSet, basename="tax-registration")
urlpatterns = [
    *router.urls,
    path("tax/settings/", views.TaxSettingsApi.as_view(), name="tax-settings"),
]
