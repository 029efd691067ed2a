from django.urls import path

from system import views

urlpatterns = [path("", views.SystemView.as_view(), name="system")]
