from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from clarity.webhooks import views as webhooks

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("clarity.api.urls")),
    path("webhooks/xero", webhooks.xero, name="webhook_xero"),
    path("webhooks/salesforce", webhooks.salesforce, name="webhook_salesforce"),
    path("portal/api/", include("portal.urls")),
]

# Error pages in the admin's look (templates/403.html, 404.html; 500.html stands alone).
handler403 = "clarity.admin_site.permission_denied"
handler404 = "clarity.admin_site.page_not_found"
