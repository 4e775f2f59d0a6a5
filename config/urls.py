from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.errors import api_bad_request, api_not_found
from billing.payments.gateways.stripe_webhook_bounds import stripe_webhook_receive
from billing.payments.views_sandbox import sandbox_authenticate
from provisioning.api.access_fast import access_check_view

api_v1 = [
    path("", include("catalog.api.urls")),
    path("", include("customers.api.urls")),
    path("", include("billing.urls")),
    path("", include("provisioning.api.entitlements_urls")),
    path("", include("provisioning.api.keys_urls")),
    path("", include("provisioning.api.orders_urls")),
    path("", include("provisioning.api.webhooks_urls")),
    path("", include("reports.api.urls")),
]

urlpatterns = [
    # The hot path first: the business's product calls it on every request (access_fast.py).
    path("api/v1/access/check", access_check_view),
    path("", TemplateView.as_view(template_name="home.html"), name="home"),  # where to go
    path("admin/reports/", include("reports.urls")),  # staff pages: before the admin
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("portal/", include("portal.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI; its start-up script is a file (/api/docs/?script), not inline: CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # dj-stripe's webhook view behind a body-size limit (stripe_webhook_bounds.py)
    path("stripe/webhook/<uuid:uuid>/", stripe_webhook_receive),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path(
        "sandbox/authenticate/<str:reference>/",
        sandbox_authenticate,
        name="sandbox-authenticate",
    ),
]


def handler400(request, exception):
    if request.path.startswith("/api/"):
        return api_bad_request(request, exception)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler404(request, exception):
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
