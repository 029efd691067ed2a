from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("<int:pk>/progress/", views.JobProgressView.as_view(), name="progress"),
]
