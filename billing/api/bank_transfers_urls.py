"""Routes of bank transfers and the reconciliation report; included under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import bank_transfers

router = SimpleRouter()
router.register("bank-transfers", bank_transfers.BankTransferViewSet, basename="bank-transfer")
urlpatterns = [
    *router.urls,
    path("reconciliation/", bank_transfers.ReconciliationApi.as_view(), name="reconciliation"),
]
