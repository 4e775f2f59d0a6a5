from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import views
from billing.api.documents import InvoicePdfApi

router = SimpleRouter()
router.register("subscriptions", views.SubscriptionViewSet, basename="subscription")
router.register("invoices", views.InvoiceViewSet, basename="invoice")
router.register("billing-runs", views.BillRunViewSet, basename="billing-run")
urlpatterns = [
    *router.urls,
    path("invoices/<str:pk>/pdf/", InvoicePdfApi.as_view(), name="invoice-pdf"),
]
