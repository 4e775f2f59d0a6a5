from rest_framework.routers import SimpleRouter

from catalog.api import views

router = SimpleRouter()
router.register("products", views.ProductViewSet, basename="product")
router.register("metrics", views.MetricViewSet, basename="metric")
router.register("features", views.FeatureViewSet, basename="feature")
router.register("plans", views.PlanViewSet, basename="plan")
router.register("addons", views.AddOnViewSet, basename="addon")
urlpatterns = router.urls
