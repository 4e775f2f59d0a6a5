"""The seller's tax set-up over the API: `GET`/`PATCH /tax/settings/` and
`/tax/registrations/` (create, list, get, delete). Each view makes one service call."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.views import ApiViewSet, ListRetrieveMixin
from billing.tax import services
from billing.tax.api import serializers as s
from billing.tax.models import TaxRegistration

TAGS = ["tax"]


class TaxSettingsApi(APIView):
    """The seller's tax settings: one object for the whole account."""

    @extend_schema(
        tags=TAGS, summary="Get the tax settings", responses=s.TaxSettingsOutputSerializer
    )
    def get(self, request):
        """The seller's tax settings: its legal name, address and email as invoices show them,
        its tax home (`seller_country`, `seller_region`), how tax is rounded (`rounding`) and
        whether it uses the EU One-Stop Shop (`eu_oss`)."""
        return Response(s.TaxSettingsOutputSerializer(services.tax_settings()).data)

    @extend_schema(
        tags=TAGS,
        summary="Update the tax settings",
        request=s.TaxSettingsUpdateInputSerializer,
        responses=s.TaxSettingsOutputSerializer,
    )
    def patch(self, request):
        """Changes the settings given and answers all of them. Invoices already finalized keep
        the tax they were issued with; drafts are taxed again when they are finalized."""
        serializer = s.TaxSettingsUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.tax_settings_update(
            at=timezone.now(), actor=request.auth, **serializer.validated_data
        )
        return Response(s.TaxSettingsOutputSerializer(updated).data)


@extend_schema_view(
    list=extend_schema(
        tags=TAGS,
        summary="List tax registrations",
        responses=s.TaxRegistrationOutputSerializer(many=True),
    ),
    retrieve=extend_schema(
        tags=TAGS, summary="Get a tax registration", responses=s.TaxRegistrationOutputSerializer
    ),
    create=extend_schema(
        tags=TAGS,
        summary="Create a tax registration",
        request=s.TaxRegistrationCreateInputSerializer,
        responses={201: s.TaxRegistrationOutputSerializer},
        description="Registers the seller in a country, or in a US state or Canadian province "
        "(`region`): its sales there carry tax from now on. 400 `unique` when it is registered "
        "there already.",
    ),
    destroy=extend_schema(
        tags=TAGS,
        summary="Delete a tax registration",
        responses={204: OpenApiResponse(description="Deleted; no body.")},
        description="Removes the registration: sales there carry no tax from now on (reason "
        "`not_collecting`); invoices already issued keep theirs. 404 when there is no such "
        "registration (a second DELETE of the same one included).",
    ),
)
class TaxRegistrationViewSet(ListRetrieveMixin, ApiViewSet):
    """Where the seller collects tax, by id: a country, or a US state or Canadian province
    of it. A sale where the seller has no registration carries no tax (`not_collecting`);
    with `eu_oss`, a registration of the seller's EU home country covers EU consumers
    everywhere in the EU."""

    queryset = TaxRegistration.objects.all()
    output_serializer_class = s.TaxRegistrationOutputSerializer
    filterset_fields = ["country", "region"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def create(self, request):
        data = self.validated(s.TaxRegistrationCreateInputSerializer, request.data)
        registration = services.tax_registration_create(
            at=timezone.now(), actor=request.auth, **data
        )
        return self.respond(registration, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.tax_registration_delete(
            registration=self.get_object(), at=timezone.now(), actor=request.auth
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
