"""`GET /tax/report/`: tax per jurisdiction, name and rate over a period of tax points."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reports.api import serializers as s
from reports.tax_report import tax_report


class TaxReportApi(APIView):
    """What the seller owes each tax authority."""

    @extend_schema(
        tags=["tax"],
        summary="Get the tax report",
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.DATE,
                description="First tax point day included (YYYY-MM-DD); default: the first.",
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.DATE,
                description="Last tax point day included (YYYY-MM-DD, not before `from`); "
                "default: the last.",
            ),
            OpenApiParameter(
                "currency", str, description="Only this currency (ISO 4217); default: all."
            ),
        ],
        responses=s.TaxReportOutputSerializer,
    )
    def get(self, request):
        """The tax of the invoices whose tax point (`tax_date`) falls between `from` and
        `to` (both included), less that of the credit notes issued on those days (the
        customer's local day), per jurisdiction, tax name, rate and currency; sales without
        tax (reverse charge, exempt, not collecting) are rows at rate 0. 400
        `invalid_request` naming the parameter for a date that is not YYYY-MM-DD, `to`
        before `from`, or an unknown currency."""
        params = {key: value for key, value in request.query_params.items() if value != ""}
        query = s.TaxReportQuerySerializer(data=params)
        query.is_valid(raise_exception=True)
        rows = tax_report(
            date_from=query.validated_data.get("from"),
            date_to=query.validated_data.get("to"),
            currency=query.validated_data.get("currency") or None,
        )
        return Response(s.TaxReportOutputSerializer({"rows": rows}).data)
