"""Routes of usage events and usage alerts; included under /api/v1/ by billing/urls.py."""

from rest_framework.routers import SimpleRouter

from billing.usage.api import UsageAlertViewSet, UsageEventViewSet

router = SimpleRouter()
router.register("events", UsageEventViewSet, basename="usage-event")
router.register("usage-alerts", UsageAlertViewSet, basename="usage-alert")
urlpatterns = router.urls
