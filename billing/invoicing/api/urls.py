"""Routes of subscriptions, invoices, bill runs, credit notes, balances, coupons and
discounts; included under /api/v1/ by billing/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.invoicing.api import credits, views
from billing.invoicing.api.documents import InvoicePdfApi

router = SimpleRouter()
router.register("subscriptions", views.SubscriptionViewSet, basename="subscription")
router.register("invoices", views.InvoiceViewSet, basename="invoice")
router.register("billing-runs", views.BillRunViewSet, basename="billing-run")
router.register("credit-notes", credits.CreditNoteViewSet, basename="credit-note")
router.register("coupons", credits.CouponViewSet, basename="coupon")
router.register("discounts", credits.DiscountViewSet, basename="discount")
urlpatterns = [
    *router.urls,
    path("invoices/<str:pk>/pdf/", InvoicePdfApi.as_view(), name="invoice-pdf"),
    path("balances/", credits.CustomerBalanceApi.as_view(), name="balance-list"),
]
