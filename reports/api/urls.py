"""Routes of the reports' API; included under /api/v1/ by config/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from reports.api import mrr, revenue, views
from reports.api.journal import JournalEntryViewSet

router = SimpleRouter()
router.register("journal-entries", JournalEntryViewSet, basename="journal-entry")

urlpatterns = [
    path("tax/report/", views.TaxReportApi.as_view(), name="tax-report"),
    path(
        "revenue/recognition/",
        revenue.RevenueRecognitionApi.as_view(),
        name="revenue-recognition",
    ),
    path("revenue/mrr/", mrr.MrrApi.as_view(), name="revenue-mrr"),
    path("revenue/mrr/movements/", mrr.MrrMovementsApi.as_view(), name="revenue-mrr-movements"),
    *router.urls,
]
