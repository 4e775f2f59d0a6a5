from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import views
from billing.api.documents import InvoicePdfApi
from billing.api.usage import UsageAlertViewSet, UsageEventViewSet

router = SimpleRouter()
router.register("subscriptions", views.SubscriptionViewSet, basename="subscription")
router.register("invoices", views.InvoiceViewSet, basename="invoice")
router.register("billing-runs", views.BillRunViewSet, basename="billing-run")
router.register("events", UsageEventViewSet, basename="usage-event")
router.register("usage-alerts", UsageAlertViewSet, basename="usage-alert")
urlpatterns = [
    *router.urls,
    path("invoices/<str:pk>/pdf/", InvoicePdfApi.as_view(), name="invoice-pdf"),
]
