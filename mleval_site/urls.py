from django.contrib import admin
from django.urls import include, path

from accounts.views import AuditLogView
from mleval_site import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("audit/", AuditLogView.as_view(), name="audit"),
    path("cases/", include("cases.urls")),
    path("jobs/", include("jobs.urls")),
    # Reports own /runs/<id>/report/ and /runs/compare/, so they come before the runs app.
    path("", include("evaluations.urls")),
    path("runs/", include("runs.urls")),
    path("versions/", include("versions.urls")),
    path("grading/", include("grading.urls")),
    path("system/", include("system.urls")),
    path("connections/", include("runs.connection_urls")),
    path("api/", include("mleval_site.api_urls")),
]
