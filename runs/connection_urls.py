from django.urls import path

from runs import connection_views as views

app_name = "connections"
urlpatterns = [
    path("", views.ConnectionListView.as_view(), name="list"),
    path("new/", views.ConnectionCreateView.as_view(), name="create"),
    path("<int:pk>/", views.ConnectionUpdateView.as_view(), name="edit"),
    path("<int:pk>/delete/", views.ConnectionDeleteView.as_view(), name="delete"),
    path("<int:pk>/test/", views.ConnectionTestView.as_view(), name="test"),
]
