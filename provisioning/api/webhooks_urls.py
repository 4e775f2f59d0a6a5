"""Routes of outbound webhook endpoints and deliveries; included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from provisioning.api import webhooks

router = SimpleRouter()
router.register("webhook-endpoints", webhooks.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", webhooks.WebhookDeliveryViewSet, basename="webhook-delivery")
urlpatterns = router.urls
