"""What the journal entry list exports (CSV, XLSX). The default is one row per journal line
(date, account, debit, credit with the entry's source and customer): what an accountant
loads into a spreadsheet or a general ledger, each entry's lines summing to zero. One row per
entry (its totals) is the second choice. The conventions and the Export button are
customers/admin_exports.py's."""

from django.db.models import DecimalField, Sum
from django.db.models.functions import Coalesce

from customers.admin_exports import ExportResource, day, money, text, value, when
from reports.models import JournalEntry, JournalLine


def entry_currency(line: JournalLine) -> str:
    return line.entry.currency


class JournalLineResource(ExportResource):
    """Gets the filtered list's journal entries and writes their lines."""

    entry_id = value("entry_id")
    date = day("entry__date")
    kind = text("entry__kind")
    source = text("entry__source")
    customer_external_id = text("entry__customer__external_id")
    customer_name = text("entry__customer__name")
    account = text("account")
    role = text("role")
    currency = text("entry__currency")
    debit = money("debit", currency_of=entry_currency)
    credit = money("credit", currency_of=entry_currency)
    memo = text("entry__memo")
    posted_at = when("entry__posted_at")

    class Meta:
        model = JournalLine
        name = "Journal lines (one row per line)"
        fields = (
            "entry_id",
            "date",
            "kind",
            "source",
            "customer_external_id",
            "customer_name",
            "account",
            "role",
            "currency",
            "debit",
            "credit",
            "memo",
            "posted_at",
        )

    def filter_export(self, queryset, **kwargs):
        entries = queryset.order_by().values("pk")
        return (
            JournalLine.objects.filter(entry__in=entries)
            .select_related("entry__customer")
            .order_by("entry__date", "entry_id", "pk")
        )


class JournalEntryResource(ExportResource):
    id = value("id")
    date = day("date")
    kind = text("kind")
    source = text("source")
    customer_external_id = text("customer__external_id")
    customer_name = text("customer__name")
    currency = text("currency")
    debits = money("debits")
    credits = money("credits")
    memo = text("memo")
    posted_at = when("posted_at")

    select_related = ("customer",)

    class Meta:
        model = JournalEntry
        name = "Journal entries (one row per entry)"
        fields = (
            "id",
            "date",
            "kind",
            "source",
            "customer_external_id",
            "customer_name",
            "currency",
            "debits",
            "credits",
            "memo",
            "posted_at",
        )

    def filter_export(self, queryset, **kwargs):
        zero = DecimalField(max_digits=19, decimal_places=4)
        return (
            super()
            .filter_export(queryset, **kwargs)
            .annotate(
                debits=Coalesce(Sum("lines__debit"), 0, output_field=zero),
                credits=Coalesce(Sum("lines__credit"), 0, output_field=zero),
            )
        )
