from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tokens/", views.TokenListView.as_view(), name="api-tokens"),
    path("tokens/new/", views.TokenCreateView.as_view(), name="api-token-create"),
    path("tokens/<int:pk>/revoke/", views.TokenRevokeView.as_view(), name="api-token-revoke"),
]
