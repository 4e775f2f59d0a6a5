"""The invoice console's pages and the list actions that lead to them (mixed into
`InvoiceAdmin`, billing/invoicing/admin/invoices.py), all for finance (the invoice's change
permission; the one-off invoice: its add permission):

- the PDF (the customer's document; paid invoices are stamped paid), on the invoice page and
  as a list action (one invoice: the PDF, several: a zip); who took a copy is in the admin
  log;
- "Resend" (a confirmation page naming the recipients; a customer that takes its invoices
  in the portal is still mailed: staff asked);
- void and write off, each a confirmation page with a reason kept on the billing event;
- a credit note by line, with a preview of its totals and tax before it is issued;
- "Add one-off invoice": ad-hoc lines, issued now or on a chosen day.

Each page makes one service call per invoice; refusals come back as form errors or messages
and change nothing.
"""

import io
import zipfile
from datetime import datetime
from decimal import Decimal

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from api.errors import DomainError
from billing.events.admin import run_per_row
from billing.invoicing.admin.invoice_forms import (
    CreditNoteForm,
    ReasonForm,
    ResendForm,
    add_service_errors,
)
from billing.invoicing.admin.one_off_pages import OneOffPagesMixin
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.invoicing.services.credit_preview import credit_note_preview
from billing.invoicing.services.credits import credit_note_issue, invoice_creditable
from billing.invoicing.services.documents import (
    invoice_email_recipients,
    invoice_email_send,
    invoice_pdf,
    invoice_pdf_filename,
)
from billing.invoicing.services.invoices import invoice_mark_uncollectible, invoice_void
from catalog.money import format_amount
from customers.models import InvoiceDelivery

REFUSED = (DomainError, TransitionNotAllowed, ValidationError)
CONFIRM_TEMPLATE = "admin/billing/invoice/confirm.html"
CREDIT_NOTE_TEMPLATE = "admin/billing/invoice/credit_note.html"
ONE_OFF_TEMPLATE = "admin/billing/invoice/one_off.html"

VOIDABLE = (InvoiceStatus.DRAFT, InvoiceStatus.OPEN)
SENDABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)
CREDITABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID)


def money(amount, currency: str) -> str:
    return f"{format_amount(amount, currency)} {currency}"


def pdf_response(invoice: Invoice) -> HttpResponse:
    response = HttpResponse(invoice_pdf(invoice=invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
    return response


def pdfs_zip_response(invoices: list[Invoice], at: datetime) -> HttpResponse:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for invoice in invoices:
            archive.writestr(invoice_pdf_filename(invoice), invoice_pdf(invoice=invoice))
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    name = f"invoices-{at:%Y%m%d-%H%M%S}.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# What each confirmation page says and does: (title, button, service, done, the statuses
# it applies to, what the page warns).
DESTRUCTIVE = {
    "void": (
        "Void",
        "Yes, void",
        invoice_void,
        "Voided",
        VOIDABLE,
        "A void invoice is no longer owed and is not collected or chased; its number stays "
        "used. This cannot be undone.",
    ),
    "write_off": (
        "Write off",
        "Yes, write off",
        invoice_mark_uncollectible,
        "Written off",
        (InvoiceStatus.OPEN,),
        "A written-off invoice stays owed on paper but is no longer collected or chased "
        "(its dunning ends). This cannot be undone here.",
    ),
}


class InvoicePagesMixin(OneOffPagesMixin):
    """Pages and list actions of `InvoiceAdmin` (which has `has_act_permission`)."""

    # Permissions
    def has_download_permission(self, request) -> bool:
        return self.has_act_permission(request)

    def get_urls(self):
        name, view = f"{self.opts.app_label}_{self.opts.model_name}", self.admin_site.admin_view
        return [
            path("one-off/", view(self.one_off_view), name=f"{name}_one_off"),
            path("<int:pk>/pdf/", view(self.pdf_view), name=f"{name}_pdf"),
            path("<int:pk>/resend/", view(self.resend_view), name=f"{name}_resend"),
            path("<int:pk>/void/", view(self.void_view), name=f"{name}_void"),
            path("<int:pk>/write-off/", view(self.write_off_view), name=f"{name}_write_off"),
            path("<int:pk>/credit-note/", view(self.credit_note_view), name=f"{name}_credit_note"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "can_add_one_off": self.has_one_off_permission(request)}
        return super().changelist_view(request, extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        invoice = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if invoice is not None:
            act = self.has_act_permission(request)
            extra["invoice_tools"] = {
                "download": self.has_download_permission(request),
                "resend": act and invoice.status in SENDABLE,
                "credit_note": act and invoice.status in CREDITABLE,
                "void": act and invoice.status in VOIDABLE,
                "write_off": act and invoice.status == InvoiceStatus.OPEN,
            }
        return super().change_view(request, object_id, form_url, extra)

    def page_context(self, request, title: str, **context) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            **context,
        }

    def invoice_or_404(self, pk: int) -> Invoice:
        return get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)

    # The PDF
    def pdf_view(self, request, pk: int):
        if not self.has_download_permission(request):
            raise PermissionDenied
        invoice = self.invoice_or_404(pk)
        response = pdf_response(invoice)
        self.log_change(request, invoice, "PDF downloaded (admin).")
        return response

    @admin.action(permissions=["act"], description="Download PDF (several: a zip)")
    def download_pdf_selected(self, request, queryset):
        invoices = list(queryset.select_related("customer").order_by("pk"))
        response = (
            pdf_response(invoices[0])
            if len(invoices) == 1
            else pdfs_zip_response(invoices, timezone.now())
        )
        for invoice in invoices:
            self.log_change(request, invoice, "PDF downloaded (admin action).")
        return response

    # Resend
    def resend_rows(self, invoices: list[Invoice]) -> list[dict]:
        return [
            {
                "invoice": invoice,
                "to": ", ".join(invoice_email_recipients(invoice)) or "(no address)",
                "portal_only": invoice.customer.invoice_delivery == InvoiceDelivery.PORTAL,
                "refused": ""
                if invoice.status in SENDABLE
                else f"not sent: the invoice is {invoice.get_status_display().lower()}",
            }
            for invoice in invoices
        ]

    def resend(self, request, invoices: list[Invoice]) -> int:
        sent = 0
        for invoice in invoices:
            if invoice.status not in SENDABLE:
                self.message_user(
                    request,
                    f"{invoice}: not sent (the invoice is {invoice.get_status_display().lower()}).",
                    messages.ERROR,
                )
                continue
            invoice_email_send(invoice_id=invoice.pk, resend=True, actor=request.user)
            self.log_change(request, invoice, "Resent to the customer (admin action).")
            sent += 1
        if sent:
            self.message_user(request, f"Resent: {sent}.", messages.SUCCESS)
        return sent

    def resend_page(self, request, invoices: list[Invoice], *, bulk: bool):
        rows = self.resend_rows(invoices)
        context = self.page_context(
            request,
            "Resend invoice" if len(invoices) == 1 else "Resend invoices",
            form=ResendForm(),
            rows=rows,
            kind="resend",
            button="Yes, send",
            warning="The invoice is mailed again, with its PDF, to the addresses below.",
            portal_note=any(row["portal_only"] for row in rows),
            bulk_action="resend_selected" if bulk else "",
            invoices=invoices,
        )
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)

    def resend_view(self, request, pk: int):
        if not self.has_act_permission(request):
            raise PermissionDenied
        invoice = self.invoice_or_404(pk)
        if request.method == "POST":
            self.resend(request, [invoice])
            return redirect("admin:billing_invoice_change", invoice.pk)
        return self.resend_page(request, [invoice], bulk=False)

    @admin.action(permissions=["act"], description="Resend to the customer…")
    def resend_selected(self, request, queryset):
        """A confirmation page first; then each invoice is mailed again (`self.resend`, which
        records it with log_change)."""
        invoices = list(queryset.select_related("customer").order_by("pk"))
        if request.POST.get("post") == "yes":
            self.resend(request, invoices)
            return None
        return self.resend_page(request, invoices, bulk=True)

    # Void and write off: a confirmation with a reason
    def destructive_page(self, request, kind: str, invoices: list[Invoice], form, *, bulk: bool):
        title, button, _, _, statuses, warning = DESTRUCTIVE[kind]
        rows = [
            {
                "invoice": invoice,
                "refused": ""
                if invoice.status in statuses
                else f"not possible: the invoice is {invoice.get_status_display().lower()}",
            }
            for invoice in invoices
        ]
        context = self.page_context(
            request,
            f"{title} invoice" if len(invoices) == 1 else f"{title} invoices",
            form=form,
            rows=rows,
            kind=kind,
            button=button,
            warning=warning,
            bulk_action={"void": "void_selected", "write_off": "mark_uncollectible_selected"}[kind]
            if bulk
            else "",
            invoices=invoices,
        )
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)

    def destructive_run(self, request, kind: str, queryset: QuerySet, reason: str) -> None:
        """The service once per row, with the reason; each row recorded (run_per_row: the
        admin log, and the service's event with actor=request.user)."""
        _, _, service, done, _, _ = DESTRUCTIVE[kind]
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: service(invoice=invoice, at=at, actor=request.user, reason=reason),
            done,
        )

    def confirmed_reason(self, request) -> ReasonForm:
        """The reason form, bound when the confirmation page was posted."""
        return ReasonForm(request.POST if request.POST.get("post") == "yes" else None)

    def destructive_view(self, request, pk: int, kind: str):
        if not self.has_act_permission(request):
            raise PermissionDenied
        invoice = self.invoice_or_404(pk)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            queryset = Invoice.objects.filter(pk=invoice.pk)
            self.destructive_run(request, kind, queryset, form.cleaned_data["reason"])
            return redirect("admin:billing_invoice_change", invoice.pk)
        return self.destructive_page(request, kind, [invoice], form, bulk=False)

    def void_view(self, request, pk: int):
        return self.destructive_view(request, pk, "void")

    def write_off_view(self, request, pk: int):
        return self.destructive_view(request, pk, "write_off")

    @admin.action(permissions=["act"], description="Void…")
    def void_selected(self, request, queryset):
        """A confirmation page with a reason first; then `invoice_void` per row."""
        form = self.confirmed_reason(request)
        if not (form.is_bound and form.is_valid()):
            invoices = list(queryset.select_related("customer").order_by("pk"))
            return self.destructive_page(request, "void", invoices, form, bulk=True)
        reason, at = form.cleaned_data["reason"], timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_void(invoice=invoice, at=at, actor=request.user, reason=reason),
            "Voided",
        )
        return None

    @admin.action(permissions=["act"], description="Write off (mark uncollectible)…")
    def mark_uncollectible_selected(self, request, queryset):
        """A confirmation page with a reason first; then `invoice_mark_uncollectible` per
        row."""
        form = self.confirmed_reason(request)
        if not (form.is_bound and form.is_valid()):
            invoices = list(queryset.select_related("customer").order_by("pk"))
            return self.destructive_page(request, "write_off", invoices, form, bulk=True)
        reason, at = form.cleaned_data["reason"], timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_mark_uncollectible(
                invoice=invoice, at=at, actor=request.user, reason=reason
            ),
            "Written off",
        )
        return None

    # Credit note by line
    def credit_note_view(self, request, pk: int):
        if not self.has_act_permission(request):
            raise PermissionDenied
        invoice = self.invoice_or_404(pk)
        left = invoice_creditable(invoice)
        form = CreditNoteForm(request.POST or None, invoice=invoice, left=left.by_line)
        preview = None
        if invoice.status not in CREDITABLE:
            form.add_error(
                None,
                f"Only open or paid invoices can be credited; this one is {invoice.status}.",
            )
        elif request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            arguments = {
                "invoice": invoice,
                "reason": data["reason"],
                "lines": form.credited_lines(),
                "memo": data["memo"],
                "actor": request.user,
            }
            try:
                arguments["refund"] = self.credit_refund(arguments, data["settle"])
                if "_confirm" in request.POST:
                    note = credit_note_issue(at=timezone.now(), **arguments)
                else:
                    preview = credit_note_preview(at=timezone.now(), **arguments)
            except REFUSED as exc:
                add_service_errors(form, exc, form.line_field_names())
            else:
                if preview is None:
                    self.log_change(
                        request, invoice, f"Credit note {note.number} issued (admin page)."
                    )
                    self.message_user(
                        request,
                        f"Credit note {note.number} issued: {money(note.total, note.currency)}.",
                        messages.SUCCESS,
                    )
                    return redirect("admin:billing_creditnote_change", note.pk)
        context = self.page_context(
            request,
            f"Credit note for invoice {invoice}",
            invoice=invoice,
            form=form,
            preview=preview,
            shown=self.credit_preview_shown(preview) if preview else None,
            left_total=money(left.total, invoice.currency),
            amount_due=money(invoice.amount_due, invoice.currency),
        )
        return TemplateResponse(request, CREDIT_NOTE_TEMPLATE, context)

    @staticmethod
    def credit_preview_shown(preview) -> dict:
        """The preview's amounts in the currency's precision."""
        note, currency = preview.note, preview.note.currency
        return {
            "lines": [
                {
                    "description": line.description,
                    "net": money(line.net, currency),
                    "tax": money(line.tax_amount, currency),
                    "total": money(line.amount, currency),
                }
                for line in preview.lines
            ],
            **{
                name: money(getattr(note, name), currency)
                for name in (
                    "subtotal",
                    "tax",
                    "total",
                    "amount_due_reduction",
                    "refund_amount",
                    "credit_amount",
                )
            },
        }

    @staticmethod
    def credit_refund(arguments: dict, settle: str) -> Decimal:
        """What to refund: with "refund", everything the customer paid of this credit (the
        part the service leaves after reducing an open amount due), else nothing."""
        if settle != "refund":
            return Decimal(0)
        return credit_note_preview(at=timezone.now(), **arguments).note.credit_amount
