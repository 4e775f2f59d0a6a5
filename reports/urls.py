"""Read-only staff pages, mounted under /admin/reports/ (config/urls.py) with the admin's
login and chrome."""

from django.contrib import admin
from django.urls import path

from reports import revenue_views, search, views

app_name = "reports"
urlpatterns = [
    path(
        "customers/<int:pk>/",
        admin.site.admin_view(views.customer_360),
        name="customer_360",
    ),
    path("tax/", admin.site.admin_view(views.tax_report_page), name="tax_report"),
    path("search/", admin.site.admin_view(search.admin_search), name="search"),
    path("revenue/", admin.site.admin_view(revenue_views.revenue_page), name="revenue"),
    path(
        "revenue/export/<slug:report>/",
        admin.site.admin_view(revenue_views.revenue_export),
        name="revenue_export",
    ),
    path(
        "revenue/post-recognition/",
        admin.site.admin_view(revenue_views.revenue_recognition_post),
        name="revenue_recognition_post",
    ),
]
