"""GET /api/v1/invoices/{id or number}/pdf/: the invoice as a PDF."""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from api.views import lookup_by_id_or_code
from billing.invoicing.models.invoices import Invoice
from billing.invoicing.services.documents import invoice_pdf, invoice_pdf_filename


class PdfOrJsonError(BaseContentNegotiation):
    """The answer is the PDF, or an error body in JSON, whatever `Accept` says (DRF's default
    negotiation would answer `Accept: application/pdf` with 406)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class InvoicePdfApi(APIView):
    """The invoice as a PDF document (`application/pdf`), addressed by id or number, as the
    customer receives it; errors are answered in JSON."""

    content_negotiation_class = PdfOrJsonError

    @extend_schema(
        tags=["invoices"],
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such invoice."),
        },
    )
    def get(self, request, pk: str):
        invoice = lookup_by_id_or_code(Invoice.objects.select_related("customer"), pk, "number")
        if invoice is None:
            raise Http404
        response = HttpResponse(invoice_pdf(invoice=invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
        return response
