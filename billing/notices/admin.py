"""Customer notices in the operations console: the mails sent (read-only, customers.Notice)
and a preview of every kind with sample data. Imported by billing/admin.py: the previews
need billing's formatting (amounts, the seller), which the customers app cannot import."""

from csp.decorators import csp_replace, csp_update
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin

from billing.events.admin_mixins import ReadOnlyMixin
from billing.notices.previews import notice_preview
from customers.models import NON_ESSENTIAL_NOTICES, Notice, NoticeKind

PREVIEW_CURRENCIES = ("USD", "EUR", "JPY", "KWD")
# The mail's own document: its inline styles, framed by the preview page only, sandboxed.
MAIL_HTML_CSP = {
    "style-src": ["'self'", "'unsafe-inline'"],
    "frame-ancestors": ["'self'"],
    "sandbox": [],
}
PREVIEW_PAGE_CSP = {"frame-src": ["'self'"]}


@admin.register(Notice)
class NoticeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "customer", "kind", "status", "to", "subject", "related"]
    list_filter = ["kind", "status"]
    search_fields = [
        "customer__external_id",
        "customer__name",
        "customer__email",
        "subject",
        "related",
        "dedupe_key",
    ]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    fields = [
        "customer",
        "kind",
        "status",
        "error",
        "recipients",
        "subject",
        "template",
        "attachments",
        "related",
        "dedupe_key",
        "created_at",
        "sent_at",
        "preview",
    ]
    readonly_fields = fields
    change_list_template = "admin/customers/notice/change_list.html"
    preview_template = "admin/customers/notice/preview.html"

    @admin.display(description="To")
    def to(self, obj: Notice) -> str:
        return ", ".join(obj.recipients) or "-"

    @admin.display(description="Template preview")
    def preview(self, obj: Notice) -> str:
        url = reverse("admin:customers_notice_preview", args=[obj.kind])
        return format_html('<a href="{}">{} (sample data)</a>', url, obj.template)

    def get_urls(self):
        # A mail's HTML styles itself with inline styles (all a mail client reads), which the
        # site's policy refuses: only the mail's own document, shown in a sandboxed frame of
        # the preview page (no script runs in it), allows them.
        view = self.admin_site.admin_view
        mail_html = view(
            xframe_options_sameorigin(csp_replace(MAIL_HTML_CSP)(self.preview_html_view))
        )
        preview = view(csp_update(PREVIEW_PAGE_CSP)(self.preview_view))
        return [
            path("preview/", preview, name="customers_notice_previews"),
            path("preview/<str:kind>/", preview, name="customers_notice_preview"),
            path("preview/<str:kind>/html/", mail_html, name="customers_notice_preview_html"),
            *super().get_urls(),
        ]

    def _preview(self, request, kind: str) -> tuple[str, tuple[str, str, str]]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if kind not in NoticeKind.values:
            raise Http404("No such notice kind.")
        currency = request.GET.get("currency", "USD").upper()
        if currency not in PREVIEW_CURRENCIES:
            currency = "USD"
        return currency, notice_preview(kind, currency)

    def preview_html_view(self, request, kind: str):
        """The mail's HTML alone, for the preview page's sandboxed frame."""
        _, (_, _, html) = self._preview(request, kind)
        return HttpResponse(html)

    def preview_view(self, request, kind: str = NoticeKind.RECEIPT):
        """The notice `kind` rendered with sample data (`?currency=EUR`): subject, HTML
        (in a sandboxed frame) and text. Staff who may see the notices only."""
        currency, (subject, text, _) = self._preview(request, kind)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Preview: {NoticeKind(kind).label}",
            "kind": kind,
            "kinds": [
                (value, label, value not in NON_ESSENTIAL_NOTICES)
                for value, label in NoticeKind.choices
            ],
            "essential": kind not in NON_ESSENTIAL_NOTICES,
            "currency": currency,
            "currencies": PREVIEW_CURRENCIES,
            "subject": subject,
            "text": text,
        }
        return TemplateResponse(request, self.preview_template, context)
