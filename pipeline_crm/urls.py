from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from deals import views as deal_views

handler403 = "pipeline_crm.errors.permission_denied"

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
    # Browsers that ignore the page's <link rel="icon"> ask for this one; the static name is
    # looked up on the first request, when the production manifest is loaded.
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("img/favicon.svg"), permanent=True),
    ),
]
