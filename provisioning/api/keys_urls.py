"""Routes of the customer's service keys and seats; included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from provisioning.api import keys

router = SimpleRouter()
router.register(
    r"customers/(?P<customer>[^/]+)/service-keys",
    keys.CustomerServiceKeyViewSet,
    basename="customer-service-key",
)
router.register(
    r"customers/(?P<customer>[^/]+)/seats", keys.CustomerSeatViewSet, basename="customer-seat"
)
urlpatterns = router.urls
