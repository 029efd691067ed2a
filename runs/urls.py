from django.urls import path

from runs import views

app_name = "runs"
urlpatterns = [
    path("", views.RunListView.as_view(), name="list"),
    path("new/", views.RunCreateView.as_view(), name="create"),
    path("new/count/", views.SelectionCountView.as_view(), name="selection_count"),
    path("<int:pk>/", views.RunDetailView.as_view(), name="detail"),
    path("<int:pk>/progress/", views.RunProgressView.as_view(), name="progress"),
    path("<int:pk>/drift/", views.RunDriftView.as_view(), name="drift"),
    path("<int:pk>/execute/", views.RunExecuteView.as_view(), name="execute"),
    path("<int:pk>/cancel/", views.RunCancelView.as_view(), name="cancel"),
    path("<int:pk>/responses/import/", views.ResponseUploadView.as_view(), name="upload"),
    path(
        "<int:pk>/responses/import/<int:job_id>/errors.csv",
        views.ImportErrorsView.as_view(),
        name="import_errors",
    ),
    path("<int:pk>/delete/", views.RunDeleteView.as_view(), name="delete"),
]
