from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from deals import views as deal_views

admin.site.site_header = "Pipeline CRM administration"
admin.site.site_title = "Pipeline CRM admin"
admin.site.index_title = "Configuration"

urlpatterns = [
    path("", deal_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("deals.urls")),
    path("tasks/", include("tasks.urls")),
    path("reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
]
