"""Routes of orders; included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from provisioning.api import orders

router = SimpleRouter()
router.register("orders", orders.OrderViewSet, basename="order")
urlpatterns = router.urls
