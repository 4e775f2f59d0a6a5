"""Routes of the reports' API; included under /api/v1/ by config/urls.py."""

from django.urls import path

from reports.api import views

urlpatterns = [path("tax/report/", views.TaxReportApi.as_view(), name="tax-report")]
