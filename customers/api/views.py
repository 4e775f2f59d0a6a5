import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.decorators import action

from api.views import ApiViewSet, ListRetrieveMixin
from customers import services
from customers.api import serializers as s
from customers.models import Customer


class CustomerFilter(django_filters.FilterSet):
    archived = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_archived",
        help_text="true: archived only; default: active only.",
    )
    email = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Customer
        fields = ["external_id", "email", "country", "currency", "archived"]

    def filter_queryset(self, queryset):
        archived = self.form.cleaned_data.get("archived") == "true"
        queryset = queryset.filter(archived_at__isnull=not archived)
        return super().filter_queryset(queryset)

    def filter_archived(self, queryset, name, value):
        return queryset


@extend_schema_view(
    list=extend_schema(tags=["customers"], responses=s.CustomerOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["customers"], responses=s.CustomerOutputSerializer),
    create=extend_schema(
        tags=["customers"],
        request=s.CustomerCreateInputSerializer,
        responses={201: s.CustomerOutputSerializer},
    ),
    partial_update=extend_schema(
        tags=["customers"],
        request=s.CustomerUpdateInputSerializer,
        responses=s.CustomerOutputSerializer,
    ),
    archive=extend_schema(tags=["customers"], request=None, responses=s.CustomerOutputSerializer),
    unarchive=extend_schema(tags=["customers"], request=None, responses=s.CustomerOutputSerializer),
)
class CustomerViewSet(ListRetrieveMixin, ApiViewSet):
    """Customers by id or by `external_id`."""

    queryset = Customer.objects.all()
    output_serializer_class = s.CustomerOutputSerializer
    code_field = "external_id"
    filterset_class = CustomerFilter

    def create(self, request):
        data = self.validated(s.CustomerCreateInputSerializer, request.data)
        return self.respond(services.customer_create(**data), status=201)

    def partial_update(self, request, pk=None):
        data = self.validated(s.CustomerUpdateInputSerializer, request.data)
        return self.respond(services.customer_update(customer=self.get_object(), **data))

    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        customer = services.customer_archive(customer=self.get_object(), at=timezone.now())
        return self.respond(customer)

    @action(detail=True, methods=["post"])
    def unarchive(self, request, pk=None):
        return self.respond(services.customer_unarchive(customer=self.get_object()))
