from django.urls import path

from versions import views

app_name = "versions"
urlpatterns = [
    path("", views.VersionListView.as_view(), name="list"),
    path("new/", views.VersionCreateView.as_view(), name="create"),
    path("diff/", views.VersionDiffView.as_view(), name="diff"),
    path("<int:pk>/", views.VersionDetailView.as_view(), name="detail"),
    path("cases/<int:pk>/revisions/", views.CaseRevisionsView.as_view(), name="case-revisions"),
    path(
        "cases/<int:pk>/revisions/<int:revision>/restore/",
        views.CaseRestoreView.as_view(),
        name="case-restore",
    ),
]
