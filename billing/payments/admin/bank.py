"""Bank transfers and the reconciliation report in the operations console.

Staff record a transfer by hand (the add form, through `bank_transfer_record`), import a CSV
bank statement, match what the automatic matching could not (to a customer and, optionally,
some of its invoices) or set a transfer aside. Everything goes through the services in
billing.payments.services.bank_transfers, one call per row. The "Reconciliation report" page shows
`reconciliation_report`. Imported by billing/admin.py.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_fsm import TransitionNotAllowed

from api.errors import DomainError, error_text
from billing.events.admin_mixins import ActPermissionMixin
from billing.invoicing.models.invoices import Invoice
from billing.payments.admin.forms import customer_field
from billing.payments.api.bank_transfers import ReconciliationOutputSerializer
from billing.payments.models.payments import BankTransfer, BankTransferStatus
from billing.payments.services.bank_statements import bank_statement_import
from billing.payments.services.bank_transfers import (
    bank_transfer_assign,
    bank_transfer_ignore,
    bank_transfer_match,
    bank_transfer_record,
)
from billing.payments.services.reconciliation import reconciliation_report

BTS = BankTransferStatus
REFUSED = (ValidationError, DomainError, TransitionNotAllowed)
ACTION_FORM_TEMPLATE = "admin/billing/banktransfer/action_form.html"


# Forms
class BankTransferAddForm(forms.ModelForm):
    class Meta:
        model = BankTransfer
        fields = [
            "bank_reference",
            "amount",
            "currency",
            "received_at",
            "payer_name",
            "payer_account",
            "remittance",
        ]

    def validate_unique(self):
        pass  # `bank_transfer_record` tells a transfer recorded before from a clash


class BankTransferAssignForm(forms.Form):
    customer = customer_field()
    invoices = forms.CharField(
        required=False,
        help_text="Invoice numbers to pay, in order, separated by spaces or commas. Empty: the "
        "customer's open invoices, oldest due first. The rest goes to the customer balance.",
    )

    def clean_invoices(self) -> list[Invoice] | None:
        numbers = [n for n in self.cleaned_data["invoices"].replace(",", " ").split() if n]
        if not numbers:
            return None
        found = {i.number: i for i in Invoice.objects.filter(number__in=numbers)}
        unknown = [n for n in numbers if n not in found]
        if unknown:
            raise ValidationError(f"No such invoice: {', '.join(unknown)}.")
        return [found[n] for n in numbers]


class BankTransferIgnoreForm(forms.Form):
    reason = forms.CharField(
        max_length=300, help_text="Why it is not a customer's payment (e.g. supplier refund)."
    )


class BankStatementForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row: date, amount, currency, reference, remittance / "
        "description, payer name, payer account. Rows recorded before are skipped."
    )


class ReconciliationForm(forms.Form):
    since = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Gateway charges are compared from this day (UTC).",
    )


@admin.register(BankTransfer)
class BankTransferAdmin(ActPermissionMixin, admin.ModelAdmin):
    list_display = [
        "received_at",
        "bank_reference",
        "amount",
        "currency",
        "payer_name",
        "remittance",
        "status",
        "customer",
        "payment_link",
    ]
    list_filter = ["status", "currency", "received_at"]
    search_fields = [
        "bank_reference",
        "payer_name",
        "payer_account",
        "remittance",
        "customer__external_id",
        "customer__name",
    ]
    list_select_related = ["customer", "payment"]
    date_hierarchy = "received_at"
    form = BankTransferAddForm
    detail_fields = [
        *BankTransferAddForm.Meta.fields,
        "status",
        "customer",
        "payment_link",
        "statement",
        "created_at",
        "billing_events",
    ]
    actions = ["auto_match_selected", "assign_selected", "ignore_selected"]
    change_list_template = "admin/billing/banktransfer/change_list.html"
    reconciliation_template = "admin/billing/reconciliation.html"

    # Pages and permissions
    def get_fields(self, request, obj=None):
        return BankTransferAddForm.Meta.fields if obj is None else self.detail_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.detail_fields

    def has_change_permission(self, request, obj=None):
        return False  # changed through the actions only

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="payment")
    def payment_link(self, obj: BankTransfer) -> str:
        if obj.payment_id is None:
            return "-"
        url = reverse("admin:billing_payment_change", args=[obj.payment_id])
        return format_html('<a href="{}">Payment #{}</a>', url, obj.payment_id)

    @admin.display(description="billing events")
    def billing_events(self, obj: BankTransfer) -> str:
        url = reverse("admin:billing_billingevent_changelist")
        return format_html(
            '<a href="{}?subject_type=billing.banktransfer&subject_id={}">Events of this '
            "transfer</a>",
            url,
            obj.pk,
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, error_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        transfer, created = bank_transfer_record(
            **{name: form.cleaned_data[name] for name in BankTransferAddForm.Meta.fields},
            statement="entered by staff",
            at=timezone.now(),
            actor=request.user,
        )
        if not created:
            self.message_user(request, "This transfer was recorded before.", messages.WARNING)
        obj.pk = transfer.pk
        obj.refresh_from_db()
        obj._state.adding = False

    # Actions
    def _per_row(self, request, queryset, service: Callable, done: str) -> None:
        count = 0
        for transfer in queryset.order_by("pk"):
            try:
                service(transfer)
            except REFUSED as exc:
                self.message_user(
                    request, f"{transfer}: not possible ({error_text(exc)})", messages.ERROR
                )
            else:
                count += 1
        if count:
            self.message_user(request, f"{done}: {count}.", messages.SUCCESS)

    def _action_form(self, request, queryset, form, *, action: str, title: str):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "action": action,
            "transfers": queryset.order_by("pk"),
        }
        return TemplateResponse(request, ACTION_FORM_TEMPLATE, context)

    @admin.action(permissions=["act"], description="Match automatically (by remittance text)")
    def auto_match_selected(self, request, queryset):
        at, matched = timezone.now(), 0
        unmatched = queryset.filter(status=BTS.UNMATCHED).order_by("pk")
        for transfer in unmatched:
            try:
                transfer = bank_transfer_match(transfer=transfer, at=at, actor=request.user)
            except REFUSED as exc:
                self.message_user(request, f"{transfer}: {error_text(exc)}", messages.ERROR)
                continue
            matched += transfer.status == BTS.MATCHED
        self.message_user(
            request,
            f"Matched {matched} of {len(unmatched)} unmatched transfer(s); the others name no "
            "customer (or several): match them by hand.",
            messages.SUCCESS if matched else messages.WARNING,
        )

    @admin.action(permissions=["act"], description="Match to a customer / invoices…")
    def assign_selected(self, request, queryset):
        form = BankTransferAssignForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data, at = form.cleaned_data, timezone.now()
            self._per_row(
                request,
                queryset,
                lambda t: bank_transfer_assign(
                    transfer=t,
                    customer=data["customer"],
                    invoices=data["invoices"],
                    at=at,
                    actor=request.user,
                ),
                f"Matched to {data['customer'].external_id}",
            )
            return None
        return self._action_form(
            request, queryset, form, action="assign_selected", title="Match bank transfers"
        )

    @admin.action(permissions=["act"], description="Ignore (not a customer's payment)…")
    def ignore_selected(self, request, queryset):
        form = BankTransferIgnoreForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason, at = form.cleaned_data["reason"], timezone.now()
            self._per_row(
                request,
                queryset,
                lambda t: bank_transfer_ignore(
                    transfer=t, reason=reason, at=at, actor=request.user
                ),
                "Ignored",
            )
            return None
        return self._action_form(
            request, queryset, form, action="ignore_selected", title="Ignore bank transfers"
        )

    # Extra pages
    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "reconciliation/",
                self.admin_site.admin_view(self.reconciliation_view),
                name=f"{name}_reconciliation",
            ),
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name=f"{name}_import",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self.has_add_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BankStatementForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            result = bank_statement_import(
                file=upload, filename=upload.name, at=timezone.now(), actor=request.user
            )
            self.message_user(
                request,
                f"{upload.name}: {result.created} new transfer(s), {result.matched} matched, "
                f"{result.duplicates} recorded before, {len(result.skipped)} outgoing skipped.",
                messages.SUCCESS,
            )
            for row, message in result.errors:
                self.message_user(request, f"Row {row}: {message}", messages.ERROR)
            return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return self._action_form(
            request, BankTransfer.objects.none(), form, action="", title="Import a bank statement"
        )

    def reconciliation_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        form = ReconciliationForm(
            request.GET if "since" in request.GET else None,
            initial={"since": (now - timedelta(days=30)).date()},
        )
        since_day = form.cleaned_data["since"] if form.is_valid() else form.initial["since"]
        since = datetime.combine(since_day, datetime.min.time(), tzinfo=UTC)
        # As the API shows it: amounts in each currency's precision.
        report = ReconciliationOutputSerializer(reconciliation_report(at=now, since=since)).data
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Reconciliation report",
            "form": form,
            "report": report,
            "charge_sections": [
                {
                    "title": "2. Paid at a gateway, not paid here",
                    "rows": report["paid_at_gateway_open_here"],
                },
                {
                    "title": "3a. Gateway charge amount is not our payment amount",
                    "rows": report["gateway_amount_mismatches"],
                },
            ],
        }
        return TemplateResponse(request, self.reconciliation_template, context)
