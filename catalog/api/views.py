import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action

from api.filters import IdOrCodeFilter
from api.views import ApiViewSet, ListRetrieveMixin
from catalog import services
from catalog.api import serializers as s
from catalog.models import AddOn, BillableMetric, Feature, Plan, Product


class PlanFilter(django_filters.FilterSet):
    product = IdOrCodeFilter(id_field="product_id", code_field="product__code", what="Product")
    all_versions = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_versions",
        help_text="true: include replaced versions.",
    )

    class Meta:
        model = Plan
        fields = ["code", "currency", "interval", "status", "product", "all_versions"]

    def filter_queryset(self, queryset):
        if self.form.cleaned_data.get("all_versions") != "true":
            queryset = queryset.filter(is_latest=True)
        return super().filter_queryset(queryset)

    def filter_versions(self, queryset, name, value):
        return queryset


def _list_retrieve_schema(output, tag):
    return {
        "list": extend_schema(tags=[tag], responses=output(many=True)),
        "retrieve": extend_schema(tags=[tag], responses=output),
    }


@extend_schema_view(
    **_list_retrieve_schema(s.ProductOutputSerializer, "catalog"),
    create=extend_schema(
        tags=["catalog"],
        request=s.ProductCreateInputSerializer,
        responses={201: s.ProductOutputSerializer},
    ),
    partial_update=extend_schema(
        tags=["catalog"],
        request=s.ProductUpdateInputSerializer,
        responses=s.ProductOutputSerializer,
    ),
)
class ProductViewSet(ListRetrieveMixin, ApiViewSet):
    """Products by id or code: what plans and add-ons are sold for."""

    queryset = Product.objects.all()
    output_serializer_class = s.ProductOutputSerializer
    code_field = "code"
    filterset_fields = ["code", "active"]

    def create(self, request):
        product = services.product_create(
            **self.validated(s.ProductCreateInputSerializer, request.data)
        )
        return self.respond(product, status=201)

    def partial_update(self, request, pk=None):
        data = self.validated(s.ProductUpdateInputSerializer, request.data)
        return self.respond(services.product_update(product=self.get_object(), **data))


@extend_schema_view(
    **_list_retrieve_schema(s.MetricOutputSerializer, "catalog"),
    create=extend_schema(
        tags=["catalog"],
        request=s.MetricCreateInputSerializer,
        responses={201: s.MetricOutputSerializer},
    ),
    partial_update=extend_schema(
        tags=["catalog"],
        request=s.NameDescriptionInputSerializer,
        responses=s.MetricOutputSerializer,
    ),
)
class MetricViewSet(ListRetrieveMixin, ApiViewSet):
    """Billable metrics by id or code: how usage events are aggregated per period
    (`count`, `sum`, `max`, `unique_count` or `latest` of the event property `field`)."""

    queryset = BillableMetric.objects.all()
    output_serializer_class = s.MetricOutputSerializer
    code_field = "code"
    filterset_fields = ["code", "aggregation"]

    def create(self, request):
        data = self.validated(s.MetricCreateInputSerializer, request.data)
        return self.respond(services.metric_create(**data), status=201)

    def partial_update(self, request, pk=None):
        data = self.validated(s.NameDescriptionInputSerializer, request.data)
        return self.respond(services.metric_update(metric=self.get_object(), **data))


@extend_schema_view(
    **_list_retrieve_schema(s.FeatureOutputSerializer, "catalog"),
    create=extend_schema(
        tags=["catalog"],
        request=s.FeatureCreateInputSerializer,
        responses={201: s.FeatureOutputSerializer},
    ),
    partial_update=extend_schema(
        tags=["catalog"],
        request=s.NameDescriptionInputSerializer,
        responses=s.FeatureOutputSerializer,
    ),
)
class FeatureViewSet(ListRetrieveMixin, ApiViewSet):
    """Features by id or code: what plans and add-ons entitle to. A `boolean` feature is on or
    off, a `quota` limits its metric's usage per period, `seats` limits assigned users."""

    queryset = Feature.objects.select_related("metric")
    output_serializer_class = s.FeatureOutputSerializer
    code_field = "code"
    filterset_fields = ["code", "kind"]

    def create(self, request):
        data = self.validated(s.FeatureCreateInputSerializer, request.data)
        return self.respond(services.feature_create(**data), status=201)

    def partial_update(self, request, pk=None):
        data = self.validated(s.NameDescriptionInputSerializer, request.data)
        return self.respond(services.feature_update(feature=self.get_object(), **data))


@extend_schema_view(
    **_list_retrieve_schema(s.PlanOutputSerializer, "catalog"),
    create=extend_schema(
        tags=["catalog"],
        request=s.PlanCreateInputSerializer,
        responses={201: s.PlanOutputSerializer},
    ),
    partial_update=extend_schema(
        tags=["catalog"],
        request=s.PlanUpdateInputSerializer,
        responses=s.PlanOutputSerializer,
        description="Changes the plan. A plan with subscribers gets a new version for changed "
        "terms (its subscribers keep theirs); the response is the version carrying the change.",
    ),
    archive=extend_schema(tags=["catalog"], request=None, responses=s.PlanOutputSerializer),
)
class PlanViewSet(ListRetrieveMixin, ApiViewSet):
    """Plans by id (one version) or by code (the latest version)."""

    queryset = Plan.objects.select_related("product", "service_level").prefetch_related(
        "charges__metric", "entitlements__feature"
    )
    output_serializer_class = s.PlanOutputSerializer
    code_field = "code"
    filterset_class = PlanFilter

    def create(self, request):
        data = self.validated(s.PlanCreateInputSerializer, request.data)
        return self.respond(services.plan_create(**data), status=201)

    def partial_update(self, request, pk=None):
        plan = self.get_object()
        data = self.validated(
            s.PlanUpdateInputSerializer, request.data, context={"currency": plan.currency}
        )
        plan = services.plan_update(plan=plan, **data)
        return self.respond(self.get_queryset().get(pk=plan.pk))

    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        plan = services.plan_archive(plan=self.get_object())
        return self.respond(self.get_queryset().get(pk=plan.pk))


@extend_schema_view(
    **_list_retrieve_schema(s.AddOnOutputSerializer, "catalog"),
    create=extend_schema(
        tags=["catalog"],
        request=s.AddOnCreateInputSerializer,
        responses={201: s.AddOnOutputSerializer},
    ),
    partial_update=extend_schema(
        tags=["catalog"], request=s.AddOnUpdateInputSerializer, responses=s.AddOnOutputSerializer
    ),
)
class AddOnViewSet(ListRetrieveMixin, ApiViewSet):
    """Add-ons by id or code: extras bought on top of a plan, once or per month or year,
    with the entitlements they add."""

    queryset = AddOn.objects.prefetch_related("entitlements__feature")
    output_serializer_class = s.AddOnOutputSerializer
    code_field = "code"
    filterset_fields = ["code", "currency", "interval", "active"]

    def create(self, request):
        data = self.validated(s.AddOnCreateInputSerializer, request.data)
        return self.respond(services.addon_create(**data), status=201)

    def partial_update(self, request, pk=None):
        data = self.validated(s.AddOnUpdateInputSerializer, request.data)
        return self.respond(services.addon_update(addon=self.get_object(), **data))
