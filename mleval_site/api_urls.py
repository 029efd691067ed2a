"""/api/: the OpenAPI schema, its interactive docs, and each app's v1 endpoints (its api.py)."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from cases.api import TestCaseViewSet
from mleval_site.api import not_found
from runs.api import RunResponsesView, RunViewSet

router = SimpleRouter()
router.register("cases", TestCaseViewSet, basename="case")
router.register("runs", RunViewSet, basename="run")

v1 = [
    *router.urls,
    path("runs/<int:run_id>/responses/", RunResponsesView.as_view(), name="run-responses"),
]

urlpatterns = [
    path("v1/", include((v1, "api"))),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The docs page is for people in a browser: send them to the login page, not a 401.
    path(
        "docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    re_path(r"^(?P<path>[\s\S]*)$", not_found),  # any character, newlines included
]
