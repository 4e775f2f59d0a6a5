"""Routes of payments and payment methods; included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from billing.api import payments

router = SimpleRouter()
router.register("payments", payments.PaymentViewSet, basename="payment")
router.register(
    r"customers/(?P<customer>[^/]+)/payment-methods",
    payments.CustomerPaymentMethodViewSet,
    basename="customer-payment-method",
)
urlpatterns = router.urls
