"""Account at a glance, terms, invoices and payments."""

from django.urls import path

from portal.views import account, billing

urlpatterns = [
    path("", account.overview, name="overview"),
    path("terms/", account.terms, name="terms"),
    path("emails/", account.emails, name="emails"),
    path("invoices/", billing.invoices, name="invoices"),
    path("invoices/<int:pk>/pdf/", billing.invoice_download, name="invoice_pdf"),
    path("invoices/<int:pk>/pay/", billing.invoice_pay, name="invoice_pay"),
    path("credit-notes/<int:pk>/pdf/", billing.credit_note_download, name="credit_note_pdf"),
    path("payments/<int:pk>/", billing.payment, name="payment"),
    path("payment-methods/", billing.payment_methods, name="payment_methods"),
    path(
        "payment-methods/sandbox/",
        billing.payment_method_add_sandbox,
        name="payment_method_add_sandbox",
    ),
    path(
        "payment-methods/stripe/",
        billing.payment_method_add_stripe,
        name="payment_method_add_stripe",
    ),
    path(
        "payment-methods/<int:pk>/default/",
        billing.payment_method_default,
        name="payment_method_default",
    ),
    path(
        "payment-methods/<int:pk>/remove/",
        billing.payment_method_remove,
        name="payment_method_remove",
    ),
]
