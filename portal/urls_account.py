"""Account at a glance, terms, invoices and payments."""

from django.urls import path

from portal.views import stub

urlpatterns = [
    path("", stub.page, {"title": "Overview"}, name="overview"),
    path("invoices/", stub.page, {"title": "Invoices"}, name="invoices"),
    path("payment-methods/", stub.page, {"title": "Payment methods"}, name="payment_methods"),
    path("terms/", stub.page, {"title": "Plan terms"}, name="terms"),
]
