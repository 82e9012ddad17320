from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("clarity.api.urls")),
    path("", include("clarity.webhooks.urls")),  # /webhooks/<system>
    path("portal/api/", include("portal.urls")),
    path("agent/v1/", include("connectors.agents.urls")),  # the on-premises agent relay
]

# Error pages in the admin's look (templates/403.html, 404.html; 500.html stands alone).
handler403 = "clarity.admin_site.permission_denied"
handler404 = "clarity.admin_site.page_not_found"
