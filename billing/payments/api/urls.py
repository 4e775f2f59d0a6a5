"""Routes of payments, payment methods, bank transfers and the reconciliation report;
included under /api/v1/ by billing/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.payments.api import bank_transfers, payments

router = SimpleRouter()
router.register("payments", payments.PaymentViewSet, basename="payment")
router.register(
    r"customers/(?P<customer>[^/]+)/payment-methods",
    payments.CustomerPaymentMethodViewSet,
    basename="customer-payment-method",
)
router.register("bank-transfers", bank_transfers.BankTransferViewSet, basename="bank-transfer")
urlpatterns = [
    *router.urls,
    path("reconciliation/", bank_transfers.ReconciliationApi.as_view(), name="reconciliation"),
]
