import django_filters
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from api.filters import IdOrCodeFilter, customer_filter
from api.views import ApiViewSet, ListRetrieveMixin, lookup_required
from billing.invoicing.api import serializers as s
from billing.invoicing.models.invoices import BillRun, Invoice
from billing.invoicing.selectors import subscription_upcoming_invoice
from billing.invoicing.services import bill_runs, changes, subscription_billing
from billing.invoicing.services import invoices as invoicing
from billing.invoicing.services.checkout import subscription_checkout
from billing.invoicing.services.sla import sla_credit_grant
from billing.subscriptions import services as subscriptions
from billing.subscriptions.models.addons import SubscriptionAddOn
from billing.subscriptions.models.subscriptions import Subscription
from billing.usage.api import SubscriptionUsageOutputSerializer, subscription_usage_body
from catalog.models import AddOn, Plan
from customers.models import Customer


def _addons(items: list[dict] | None) -> list[dict] | None:
    """The add-ons of a request ([{addon: code or id, quantity}]) with their AddOn rows."""
    if items is None:
        return None
    return [
        {
            "addon": lookup_required(
                AddOn.objects.all(), item["addon"], "code", f"addons.{index}.addon"
            ),
            "quantity": item["quantity"],
        }
        for index, item in enumerate(items)
    ]


class SubscriptionFilter(django_filters.FilterSet):
    customer = customer_filter()
    plan = IdOrCodeFilter(id_field="plan_id", code_field="plan__code", what="Plan")

    class Meta:
        model = Subscription
        fields = ["customer", "plan", "status"]


@extend_schema_view(
    list=extend_schema(tags=["subscriptions"], responses=s.SubscriptionOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["subscriptions"], responses=s.SubscriptionOutputSerializer),
    create=extend_schema(
        tags=["subscriptions"],
        request=s.SubscriptionCreateInputSerializer,
        responses={201: s.SubscriptionOutputSerializer},
    ),
    cancel=extend_schema(
        tags=["subscriptions"],
        request=s.SubscriptionCancelInputSerializer,
        responses=s.SubscriptionOutputSerializer,
    ),
    undo_cancel=extend_schema(
        tags=["subscriptions"],
        request=s.AtInputSerializer,
        responses=s.SubscriptionOutputSerializer,
        description="Keep a subscription whose cancellation at the period end is to come "
        "(422 `no_scheduled_cancellation` otherwise).",
    ),
    pause=extend_schema(
        tags=["subscriptions"],
        request=s.AtInputSerializer,
        responses=s.SubscriptionOutputSerializer,
    ),
    resume=extend_schema(
        tags=["subscriptions"],
        request=s.AtInputSerializer,
        responses=s.SubscriptionOutputSerializer,
    ),
    upcoming_invoice=extend_schema(
        tags=["subscriptions"], responses=s.UpcomingInvoiceOutputSerializer
    ),
    usage=extend_schema(tags=["usage"], responses=SubscriptionUsageOutputSerializer),
    change=extend_schema(
        tags=["subscriptions"],
        request=s.SubscriptionChangeInputSerializer,
        responses=s.SubscriptionChangeOutputSerializer,
    ),
)
class SubscriptionViewSet(ListRetrieveMixin, ApiViewSet):
    """Subscriptions by id or `external_id`: a customer on a plan, billed period by period;
    its `status` (`pending`, `trialing`, `active`, `incomplete`, `past_due`, `paused`, …)
    decides access."""

    queryset = Subscription.objects.select_related("customer", "plan").prefetch_related(
        Prefetch(
            "addons",
            queryset=SubscriptionAddOn.objects.filter(ended_at__isnull=True)
            .select_related("addon")
            .order_by("pk"),
            to_attr="current_addons",
        )
    )
    output_serializer_class = s.SubscriptionOutputSerializer
    code_field = "external_id"
    filterset_class = SubscriptionFilter

    def create(self, request):
        """Starts a subscription. Like a checkout, its first invoice (when one is due now) is
        charged at once to the customer's default payment method: the answer is `active` when
        paid, `incomplete` when declined or waiting for 3-D Secure (the invoice's payment
        then carries `next_action`; no access until paid). A trial, a later start or a
        customer without a payment method is not charged."""
        data = self.validated(s.SubscriptionCreateInputSerializer, request.data)
        customer = lookup_required(
            Customer.objects.all(), data.pop("customer"), "external_id", "customer"
        )
        plan = lookup_required(Plan.objects.order_by("-version"), data.pop("plan"), "code", "plan")
        addons = _addons(data.pop("addons", None))
        sub = subscription_checkout(
            customer=customer,
            plan=plan,
            addons=addons,
            at=timezone.now(),
            actor=request.auth,
            **data,
        )
        return self.respond(sub, status=201)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = self.validated(s.SubscriptionCancelInputSerializer, request.data)
        sub = subscription_billing.subscription_cancel(
            subscription=self.get_object(),
            at=data.pop("at", None) or timezone.now(),
            actor=request.auth,
            **data,
        )
        return self.respond(sub)

    @action(detail=True, methods=["post"])
    def change(self, request, pk=None):
        data = self.validated(s.SubscriptionChangeInputSerializer, request.data)
        plan = data.pop("plan", None)
        if plan is not None:
            plan = lookup_required(Plan.objects.order_by("-version"), plan, "code", "plan")
        addons = _addons(data.pop("addons", None))
        result = changes.subscription_change(
            subscription=self.get_object(),
            plan=plan,
            addons=addons,
            at=data.pop("at", None) or timezone.now(),
            actor=request.auth,
            **data,
        )
        context = {"lines": result.proration_lines, "preview": data["preview"]}
        return Response(
            s.SubscriptionChangeOutputSerializer(result.subscription, context=context).data
        )

    @action(detail=True, methods=["post"], url_path="undo-cancel")
    def undo_cancel(self, request, pk=None):
        data = self.validated(s.AtInputSerializer, request.data)
        sub = subscriptions.subscription_cancel_undo(
            subscription=self.get_object(), at=data.get("at") or timezone.now(), actor=request.auth
        )
        return self.respond(sub)

    @extend_schema(
        methods=["GET"],
        tags=["subscriptions"],
        responses=s.SlaCreditOutputSerializer(many=True),
        description="The SLA credits granted to this subscription, newest period first.",
    )
    @extend_schema(
        methods=["POST"],
        tags=["subscriptions"],
        request=s.SlaCreditInputSerializer,
        responses={201: s.SlaCreditResultSerializer, 200: s.SlaCreditResultSerializer},
        description="Report a finished period's measured uptime (an uptime monitor may call "
        "this): what the plan's SLA owes is credited on the customer's balance (201), once "
        "per period (409 `already_credited`); 200 with `credited: false` when the SLA was "
        "met; 422 `no_sla` or `period_not_ended`.",
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="sla-credits",
        filter_backends=[],
        pagination_class=None,
    )
    def sla_credits(self, request, pk=None):
        sub = self.get_object()
        if request.method == "GET":
            credits = sub.sla_credits.all()[:100]
            return Response(s.SlaCreditOutputSerializer(credits, many=True).data)
        data = self.validated(s.SlaCreditInputSerializer, request.data)
        credit = sla_credit_grant(
            subscription=sub,
            period_at=data["period_at"],
            uptime=data["uptime"],
            note=data["note"],
            at=timezone.now(),
            actor=request.auth,
        )
        body = {"credited": credit is not None, "credit": credit}
        return Response(s.SlaCreditResultSerializer(body).data, status=201 if credit else 200)

    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        data = self.validated(s.AtInputSerializer, request.data)
        sub = subscriptions.subscription_pause(
            subscription=self.get_object(), at=data.get("at") or timezone.now(), actor=request.auth
        )
        return self.respond(sub)

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        data = self.validated(s.AtInputSerializer, request.data)
        sub = subscriptions.subscription_resume(
            subscription=self.get_object(), at=data.get("at") or timezone.now(), actor=request.auth
        )
        return self.respond(sub)

    def lookup_queryset(self):
        if self.action == "usage":  # read on every request of a metered product: no joins
            return Subscription.objects.all()
        return self.get_queryset()

    @action(detail=True, methods=["get"])
    def usage(self, request, pk=None):
        """The current period's usage so far, priced as it would bill now."""
        return Response(subscription_usage_body(self.get_object()))

    @action(detail=True, methods=["get"], url_path="upcoming-invoice")
    def upcoming_invoice(self, request, pk=None):
        invoice = subscription_upcoming_invoice(sub=self.get_object())
        return Response(s.UpcomingInvoiceOutputSerializer(invoice).data)


class InvoiceFilter(django_filters.FilterSet):
    customer = customer_filter()
    subscription = IdOrCodeFilter(
        id_field="lines__subscription_id",
        code_field="lines__subscription__external_id",
        what="Subscription",
        distinct=True,
    )

    class Meta:
        model = Invoice
        fields = ["customer", "subscription", "status", "currency"]


@extend_schema_view(
    list=extend_schema(tags=["invoices"], responses=s.InvoiceOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["invoices"], responses=s.InvoiceOutputSerializer),
    finalize=extend_schema(
        tags=["invoices"],
        request=None,
        responses={
            200: s.InvoiceOutputSerializer,
            422: OpenApiResponse(
                description="Not a draft (`transition_not_allowed`), or the customer's VAT "
                "number is still being checked (`tax_id_pending`: the invoice stays a draft "
                "until the check answers) (`state`)."
            ),
        },
        description="Finalizes a draft invoice: it is taxed on its tax point (the customer's "
        "local day now), gets its number and is issued. 422 `tax_id_pending` while the "
        "customer's VAT number is being checked (`tax_id_status: pending`).",
    ),
    void=extend_schema(tags=["invoices"], request=None, responses=s.InvoiceOutputSerializer),
    mark_paid=extend_schema(tags=["invoices"], request=None, responses=s.InvoiceOutputSerializer),
    mark_uncollectible=extend_schema(
        tags=["invoices"], request=None, responses=s.InvoiceOutputSerializer
    ),
)
class InvoiceViewSet(ListRetrieveMixin, ApiViewSet):
    """Invoices by id or number: a draft until finalized, then `open` until paid, voided or
    written off. Amounts are decimal strings in the invoice's `currency`."""

    queryset = Invoice.objects.select_related("customer").prefetch_related("lines")
    output_serializer_class = s.InvoiceOutputSerializer
    code_field = "number"
    filterset_class = InvoiceFilter

    def _refetch(self, invoice):
        return self.respond(self.get_queryset().get(pk=invoice.pk))

    @action(detail=True, methods=["post"])
    def finalize(self, request, pk=None):
        return self._refetch(
            invoicing.invoice_finalize(
                invoice=self.get_object(), at=timezone.now(), actor=request.auth
            )
        )

    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        return self._refetch(
            invoicing.invoice_void(invoice=self.get_object(), at=timezone.now(), actor=request.auth)
        )

    @action(detail=True, methods=["post"], url_path="mark-uncollectible")
    def mark_uncollectible(self, request, pk=None):
        return self._refetch(
            invoicing.invoice_mark_uncollectible(
                invoice=self.get_object(), at=timezone.now(), actor=request.auth
            )
        )

    @action(detail=True, methods=["post"], url_path="mark-paid")
    def mark_paid(self, request, pk=None):
        return self._refetch(
            invoicing.invoice_mark_paid(
                invoice=self.get_object(), at=timezone.now(), actor=request.auth
            )
        )


@extend_schema_view(
    create=extend_schema(
        tags=["invoices"],
        request=s.BillRunInputSerializer,
        responses={202: s.BillRunOutputSerializer},
        description="Queues a bill run as of `as_of` (any time, past or future) and answers "
        "202 with it, `queued`; a worker bills it (`running`, then `completed`, "
        "`completed_with_failures` or `failed`; `abandoned` if its worker stopped). Poll "
        "`GET /billing-runs/{id}/`. 409 `bill_run_in_progress` while a run for the same "
        "`as_of` is queued or running (its id is in the message).",
    ),
    list=extend_schema(tags=["invoices"], responses=s.BillRunOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["invoices"], responses=s.BillRunOutputSerializer),
    resume=extend_schema(
        tags=["invoices"],
        request=None,
        responses={202: s.BillRunOutputSerializer},
        summary="Resume an abandoned or failed bill run",
        description="Queues the run again: it continues after the last customer it billed "
        "(nothing is billed twice). 422 `bill_run_not_resumable` unless `abandoned` or "
        "`failed`; 409 `bill_run_in_progress` while another run for its `as_of` is active.",
    ),
)
class BillRunViewSet(ListRetrieveMixin, ApiViewSet):
    """Bill runs: everything due by `as_of`, billed by a worker; status, progress, failures."""

    queryset = BillRun.objects.prefetch_related("failures")
    output_serializer_class = s.BillRunOutputSerializer

    def create(self, request):
        data = self.validated(s.BillRunInputSerializer, request.data)
        run = bill_runs.bill_run_request(as_of=data["as_of"], at=timezone.now(), actor=request.auth)
        return self.respond(run, status=202)

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        run = bill_runs.bill_run_resume(
            run=self.get_object(), at=timezone.now(), actor=request.auth
        )
        return self.respond(run, status=202)
