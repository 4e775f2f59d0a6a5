"""`GET /journal-entries/` and `GET /journal-entries/export/`: the double-entry journal the
reports keep from billing's records."""

import io
import zipfile

import django_filters
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action

from api.errors import DomainError
from api.filters import customer_filter
from api.views import ApiViewSet, ListRetrieveMixin
from catalog.api.fields import MoneyAmountField
from reports.ledger.exports import (
    journal_csv,
    quickbooks_journal_csv,
    xero_batches,
    xero_manual_journal_csv,
)
from reports.ledger.models import AccountRole, EntryKind, JournalEntry
from reports.ledger.selectors import entry_out

EXPORT_LIMIT = 100_000
FORMATS = ("csv", "xero", "quickbooks")


class JournalLineOutputSerializer(serializers.Serializer):
    account = serializers.CharField(help_text="The account's code when it was posted.")
    role = serializers.ChoiceField(
        choices=AccountRole.choices, help_text="What the account is for."
    )
    debit = MoneyAmountField(currency="entry.currency")
    credit = MoneyAmountField(currency="entry.currency")


class JournalEntryOutputSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    source = serializers.CharField(
        help_text="What it records: an invoice, credit note or payment reference."
    )
    customer = serializers.SlugRelatedField(
        slug_field="external_id", read_only=True, allow_null=True
    )
    lines = JournalLineOutputSerializer(many=True, help_text="Debits equal credits.")

    class Meta:
        model = JournalEntry
        fields = ["id", "date", "kind", "source", "customer", "currency", "memo", "lines"]


class JournalEntryFilter(django_filters.FilterSet):
    customer = customer_filter()
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices)
    currency = django_filters.CharFilter(help_text="ISO 4217 code.")

    class Meta:
        model = JournalEntry
        fields = ["customer", "kind", "currency"]


class DatesQuerySerializer(serializers.Serializer):
    # `from` and `to` are Python keywords: declared in __init__
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.DateField(required=False)
        self.fields["to"] = serializers.DateField(required=False)

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["to"] < attrs["from"]:
            raise serializers.ValidationError({"to": ["to is before from."]})
        return attrs


DATE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First date included (YYYY-MM-DD)."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last date included (YYYY-MM-DD)."),
]


@extend_schema_view(
    list=extend_schema(
        tags=["journal"],
        summary="List journal entries",
        parameters=DATE_PARAMETERS,
        responses=JournalEntryOutputSerializer(many=True),
    ),
    retrieve=extend_schema(
        tags=["journal"], summary="Get a journal entry", responses=JournalEntryOutputSerializer
    ),
)
class JournalEntryViewSet(ListRetrieveMixin, ApiViewSet):
    """Balanced journal entries (each one's debits equal its credits): invoice finalized,
    payment, refund, credit note, revenue recognised, usage accrual, customer balance.
    Posted from billing's records by the reports' worker within seconds; an entry is never
    changed (a correction is another entry, in the first month still open)."""

    queryset = JournalEntry.objects.select_related("customer").prefetch_related("lines")
    output_serializer_class = JournalEntryOutputSerializer
    filterset_class = JournalEntryFilter

    def filter_queryset(self, queryset):
        params = {k: v for k, v in self.request.query_params.items() if k in ("from", "to") and v}
        dates = self.validated(DatesQuerySerializer, params)
        if dates.get("from"):
            queryset = queryset.filter(date__gte=dates["from"])
        if dates.get("to"):
            queryset = queryset.filter(date__lte=dates["to"])
        return super().filter_queryset(queryset)

    @extend_schema(
        tags=["journal"],
        summary="Export journal entries",
        parameters=[
            *DATE_PARAMETERS,
            OpenApiParameter("customer", str, description="Customer id or external_id."),
            OpenApiParameter("kind", str, enum=EntryKind.values),
            OpenApiParameter("currency", str, description="Required for xero and quickbooks."),
            OpenApiParameter(
                "format",
                str,
                enum=FORMATS,
                description="csv (default): one row per line. xero: Xero's manual journal "
                "import (a zip of files of at most 300 lines when longer). quickbooks: "
                "QuickBooks Online's journal entry import.",
            ),
            OpenApiParameter(
                "tax_rate",
                str,
                description="xero only: the Xero tax rate name for every line "
                '(default "Tax Exempt"; tax has lines of its own).',
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The file."),
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="Xero files of at most 300 lines."
            ),
        },
    )
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        """The entries the same filters list, as a file. 400 `invalid_request` naming the
        parameter for an unknown format, a bad date, xero/quickbooks without `currency`, or
        more than 100,000 entries (narrow the dates)."""
        fmt = request.query_params.get("format", "csv")
        if fmt not in FORMATS:
            raise DomainError(f"format must be one of {', '.join(FORMATS)}.", field="format")
        rows = self.filter_queryset(self.get_queryset()).order_by("pk")
        currency = request.query_params.get("currency")
        if fmt != "csv" and not currency:
            raise DomainError(f"A {fmt} file holds one currency: give currency.", field="currency")
        if rows.count() > EXPORT_LIMIT:
            raise DomainError(
                f"More than {EXPORT_LIMIT} entries: export a shorter period.", field="from"
            )
        rows = list(rows)
        entries = [entry_out(row) for row in rows]
        if fmt == "quickbooks":
            names = {row.source: row.customer.name for row in rows if row.customer}
            return _file(quickbooks_journal_csv(entries, names=names), "journal-quickbooks.csv")
        if fmt == "xero":
            tax_rate = request.query_params.get("tax_rate") or "Tax Exempt"
            batches = xero_batches(entries)
            if len(batches) <= 1:
                return _file(
                    xero_manual_journal_csv(entries, tax_rate=tax_rate), "journal-xero.csv"
                )
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for number, batch in enumerate(batches, start=1):
                    text = xero_manual_journal_csv(batch, tax_rate=tax_rate)
                    archive.writestr(f"journal-xero-{number:03d}.csv", text)
            response = HttpResponse(buffer.getvalue(), content_type="application/zip")
            response["Content-Disposition"] = 'attachment; filename="journal-xero.zip"'
            return response
        return _file(journal_csv(entries), "journal.csv")


def _file(text: str, name: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
