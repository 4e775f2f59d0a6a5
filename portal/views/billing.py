"""Invoices and credit notes (with their PDFs), payment methods, and paying an invoice.

Each view makes one service call (or one selector read) and turns domain errors into a
message. Every object is looked up through `request.portal.customer`: another customer's id
is a 404. Viewing documents needs VIEW; payment methods and payments need MANAGE_BILLING.
Removing a payment method has a confirmation page (portal/confirm.py).
"""

import secrets
from urllib.parse import urlencode

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from api.errors import DomainError, error_text
from billing.invoicing.services.documents import (
    buyer_tax_number,
    credit_note_pdf,
    credit_note_pdf_filename,
    invoice_pdf,
    invoice_pdf_filename,
    invoice_seller,
    tax_rows,
)
from billing.models import (
    CreditNote,
    Gateway,
    GatewayAdapter,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentMethodStatus,
    PaymentSource,
    PaymentStatus,
)
from billing.payments.services.methods import (
    payment_method_attach,
    payment_method_detach,
    payment_method_set_default,
)
from billing.payments.services.payments import payment_collect
from billing.payments.services.setup import payment_method_setup_start, stripe_elements_config
from billing.tax.services import seller_details
from portal.access import owned_or_404, portal_view
from portal.confirm import confirm_page, confirmed, to_confirmation
from portal.forms_billing import PayForm, SandboxCardForm, StripeMethodForm
from portal.selectors_account import (
    customer_credit_notes,
    customer_invoices,
    invoice_last_payments,
)
from provisioning.roles import Permission

#: How long a pay form's submission is remembered (a double submit within it is one payment).
PAY_KEY_TTL = 24 * 3600
PAY_PENDING = "pending"


def _pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# Documents
@require_GET
@portal_view(Permission.VIEW)
def invoices(request):
    customer = request.portal.customer
    invoice_list = list(customer_invoices(customer).prefetch_related("lines"))
    last = invoice_last_payments(invoice_list)
    live = seller_details() if any(not i.seller_details for i in invoice_list) else None
    rows = [
        {
            "invoice": invoice,
            "payment": last.get(invoice.pk),
            "payable": invoice.status == InvoiceStatus.OPEN and invoice.amount_due > 0,
            **_tax_details(invoice, customer, live),
        }
        for invoice in invoice_list
    ]
    return render(
        request,
        "portal/billing/invoices.html",
        {
            "title": "Invoices",
            "rows": rows,
            "credit_notes": customer_credit_notes(customer),
            "can_pay": request.portal.can(Permission.MANAGE_BILLING),
        },
    )


def _tax_details(invoice: Invoice, customer, live: dict | None) -> dict:
    """What an invoice's "Tax details" show: who issued it, the buyer's number, the tax
    point, each line's rate, one row per tax rate and the tax statements."""
    label, number = buyer_tax_number(invoice, customer)
    return {
        "seller": invoice_seller(invoice, live),
        "buyer_tax_label": label,
        "buyer_tax_id": number,
        "lines": sorted(invoice.lines.all(), key=lambda line: (line.position, line.pk)),
        "taxes": tax_rows(invoice.taxes, invoice.currency),
    }


@require_GET
@portal_view(Permission.VIEW)
def invoice_download(request, pk: int):
    invoice = owned_or_404(
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT).select_related("customer"),
        request.portal,
        pk=pk,
    )
    return _pdf_response(invoice_pdf(invoice=invoice), invoice_pdf_filename(invoice))


@require_GET
@portal_view(Permission.VIEW)
def credit_note_download(request, pk: int):
    note = owned_or_404(
        CreditNote.objects.select_related("customer", "invoice"), request.portal, pk=pk
    )
    return _pdf_response(credit_note_pdf(credit_note=note), credit_note_pdf_filename(note))


# Payment methods
def _active_methods(customer):
    return PaymentMethod.objects.filter(customer=customer, status=PaymentMethodStatus.ACTIVE)


def _sandbox_gateway() -> Gateway | None:
    return Gateway.objects.filter(adapter=GatewayAdapter.SANDBOX, active=True).first()


def _methods_page(request, *, sandbox_form=None, status=200):
    customer = request.portal.customer
    context = {
        "title": "Payment methods",
        "methods": _active_methods(customer).order_by("-is_default", "-created_at", "-pk"),
        "stripe": None,
        "sandbox_form": None,
    }
    elements = stripe_elements_config()
    if elements is not None:
        try:
            client_secret = payment_method_setup_start(customer=customer, gateway=elements.gateway)
        except DomainError as error:
            context["stripe_error"] = error.message
        else:
            context["stripe"] = {
                "publishable_key": elements.publishable_key,
                "client_secret": client_secret,
                "form": StripeMethodForm(),
            }
    elif _sandbox_gateway() is not None:
        context["sandbox_form"] = sandbox_form or SandboxCardForm()
    return render(request, "portal/billing/payment_methods.html", context, status=status)


@require_GET
@portal_view(Permission.MANAGE_BILLING)
def payment_methods(request):
    return _methods_page(request)


@require_POST
@portal_view(Permission.MANAGE_BILLING)
def payment_method_add_sandbox(request):
    gateway = _sandbox_gateway()
    form = SandboxCardForm(request.POST)
    if gateway is None:
        messages.error(request, "The sandbox gateway is not available.")
        return redirect("portal:payment_methods")
    if not form.is_valid():
        return _methods_page(request, sandbox_form=form, status=400)
    try:
        method = payment_method_attach(
            customer=request.portal.customer,
            gateway=gateway,
            token=form.cleaned_data["token"],
            make_default=form.cleaned_data["make_default"],
            at=timezone.now(),
            actor=request.user,
        )
    except DomainError as error:
        form.add_error(None, error.message)
        return _methods_page(request, sandbox_form=form, status=400)
    messages.success(request, f"{method.label} added.")
    return redirect("portal:payment_methods")


@require_POST
@portal_view(Permission.MANAGE_BILLING)
def payment_method_add_stripe(request):
    elements = stripe_elements_config()
    form = StripeMethodForm(request.POST)
    if elements is None:
        messages.error(request, "Stripe is not configured.")
        return redirect("portal:payment_methods")
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("token", ["The card was not saved."])))
        return redirect("portal:payment_methods")
    try:
        method = payment_method_attach(
            customer=request.portal.customer,
            gateway=elements.gateway,
            token=form.cleaned_data["token"],
            make_default=form.cleaned_data["make_default"],
            at=timezone.now(),
            actor=request.user,
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{method.label} added.")
    return redirect("portal:payment_methods")


@require_POST
@portal_view(Permission.MANAGE_BILLING)
def payment_method_default(request, pk: int):
    method = owned_or_404(
        PaymentMethod.objects.filter(status=PaymentMethodStatus.ACTIVE), request.portal, pk=pk
    )
    try:
        payment_method_set_default(method=method, at=timezone.now(), actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{method.label} is now the default.")
    return redirect("portal:payment_methods")


def remove_consequences(method: PaymentMethod) -> list[str]:
    """What removing `method` does, in the customer's words. One query (for a default)."""
    sentences = [f"{method.label} is removed from your account: it will not be charged again."]
    if method.is_default:
        others = _active_methods(method.customer_id).exclude(pk=method.pk).order_by("-created_at")
        other = others.first()
        sentences.append(
            "It is your default payment method: invoices are not charged automatically "
            + (
                f"until you make another method the default ({other.label} is on file)."
                if other
                else "until you add a card and make it the default."
            )
        )
    sentences.append("To use it again you will have to add it again.")
    return sentences


@require_http_methods(["GET", "POST"])
@portal_view(Permission.MANAGE_BILLING)
def payment_method_remove(request, pk: int):
    """GET: what removing the method does, and Confirm. POST with the confirmation: remove
    it; without: back to the confirmation page."""
    method = owned_or_404(
        PaymentMethod.objects.filter(status=PaymentMethodStatus.ACTIVE), request.portal, pk=pk
    )
    url = reverse("portal:payment_method_remove", args=[method.pk])
    if not confirmed(request):
        if request.method == "POST":
            return to_confirmation(url)
        return confirm_page(
            request,
            title=f"Remove {method.label}?",
            consequences=remove_consequences(method),
            action=url,
            confirm_label="Remove it",
            back_url=reverse("portal:payment_methods"),
            back_label="Keep it",
        )
    payment_method_detach(method=method, at=timezone.now(), actor=request.user)
    messages.success(request, f"{method.label} removed.")
    return redirect("portal:payment_methods")


# Paying an invoice
def _pay_key(invoice: Invoice, nonce: str) -> str:
    return f"portal:pay:{invoice.pk}:{nonce}"


def _pay_page(request, invoice: Invoice, form: PayForm, status: int = 200):
    last = invoice_last_payments([invoice]).get(invoice.pk)
    return render(
        request,
        "portal/billing/pay.html",
        {
            "title": f"Pay invoice {invoice.number}",
            "invoice": invoice,
            "form": form,
            "last_payment": last,
            "retry": last is not None and last.status == PaymentStatus.FAILED,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@portal_view(Permission.MANAGE_BILLING)
def invoice_pay(request, pk: int):
    """GET: the pay form (a fresh nonce). POST: charge the invoice once per nonce — a second
    submission of the same form shows the first one's payment instead of charging again."""
    customer = request.portal.customer
    invoice = owned_or_404(
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT), request.portal, pk=pk
    )
    if request.method == "GET":
        if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
            messages.info(request, f"Invoice {invoice.number} has nothing to pay.")
            return redirect("portal:invoices")
        form = PayForm(customer=customer, initial={"nonce": secrets.token_urlsafe(24)})
        return _pay_page(request, invoice, form)

    form = PayForm(request.POST, customer=customer)
    if not form.is_valid():
        data = request.POST.copy()
        data["nonce"] = secrets.token_urlsafe(24)  # the corrected form is a new submission
        form = PayForm(data, customer=customer)
        form.is_valid()
        return _pay_page(request, invoice, form, status=400)
    key = _pay_key(invoice, form.cleaned_data["nonce"])
    if not cache.add(key, PAY_PENDING, PAY_KEY_TTL):
        done = cache.get(key)
        if isinstance(done, int):  # submitted twice: the first submission's payment
            return redirect("portal:payment", pk=done)
        messages.info(request, "This payment is already being processed.")
        return redirect("portal:invoices")
    try:
        payment = payment_collect(
            invoice=invoice,
            at=timezone.now(),
            source=PaymentSource.PORTAL,
            method=form.cleaned_data["method"],
            actor=request.user,
        )
    except (DomainError, ValidationError) as error:
        cache.delete(key)  # nothing was charged: the same form may be sent again
        messages.error(request, error_text(error))
        return redirect("portal:invoices")
    except Exception:
        cache.delete(key)
        raise
    cache.set(key, payment.pk, PAY_KEY_TTL)
    return redirect("portal:payment", pk=payment.pk)


@require_GET
@portal_view(Permission.MANAGE_BILLING)
def payment(request, pk: int):
    """The outcome of a payment: paid, declined (why), or waiting for 3-D Secure (the link)."""
    found = owned_or_404(Payment.objects.select_related("invoice", "method"), request.portal, pk=pk)
    next_url = str((found.next_action or {}).get("url", ""))
    if not next_url.startswith(("/", "https://")):  # only a page or a bank's https page
        next_url = ""
    if next_url.startswith("/sandbox/"):  # the sandbox's 3-D Secure page links back here
        next_url += "?" + urlencode({"return_to": request.path})
    invoice = found.invoice
    return render(
        request,
        "portal/billing/payment.html",
        {
            "title": f"Payment of invoice {invoice.number if invoice else ''}".strip(),
            "payment": found,
            "invoice": invoice,
            "action_url": next_url if found.status == PaymentStatus.REQUIRES_ACTION else "",
            "can_retry": invoice is not None
            and invoice.status == InvoiceStatus.OPEN
            and invoice.amount_due > 0
            and found.status == PaymentStatus.FAILED,
            "invoices_url": reverse("portal:invoices"),
        },
    )
