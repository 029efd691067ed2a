from django.urls import path

from cases import curation_views, mapping_views, views

app_name = "cases"
urlpatterns = [
    path("", views.CaseListView.as_view(), name="list"),
    path("new/", views.CaseCreateView.as_view(), name="create"),
    path("<int:pk>/", views.CaseDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.CaseUpdateView.as_view(), name="edit"),
    path("<int:pk>/delete/", curation_views.CaseDeleteView.as_view(), name="delete"),
    path("bulk/", curation_views.BulkActionView.as_view(), name="bulk"),
    path("review/", curation_views.ReviewQueueView.as_view(), name="review"),
    path("flags/<int:pk>/resolve/", curation_views.ResolveFlagView.as_view(), name="flag_resolve"),
    path("tags/", views.TagOptionsView.as_view(), name="tag_options"),
    path("check-json/", views.CheckJsonView.as_view(), name="check_json"),
    path("import/", views.ImportView.as_view(), name="import"),
    path("import/<int:pk>/", views.ImportJobView.as_view(), name="import_detail"),
    path("import/<int:pk>/run/", views.ImportRunView.as_view(), name="import_run"),
    path("import/<int:pk>/map/", mapping_views.ImportMapView.as_view(), name="import_map"),
    path(
        "import/<int:pk>/map/preview/",
        mapping_views.ImportMapPreviewView.as_view(),
        name="import_map_preview",
    ),
    path("export/", views.ExportView.as_view(), name="export"),
]
