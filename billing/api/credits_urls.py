"""Routes of credit notes, balances, coupons and discounts; included under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import credits

router = SimpleRouter()
router.register("credit-notes", credits.CreditNoteViewSet, basename="credit-note")
router.register("coupons", credits.CouponViewSet, basename="coupon")
router.register("discounts", credits.DiscountViewSet, basename="discount")
urlpatterns = [
    *router.urls,
    path("balances/", credits.CustomerBalanceApi.as_view(), name="balance-list"),
]
