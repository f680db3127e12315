"""The URL map: the API under /api/v1/, its schema and docs, health, and the admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from notifier.api import views as api_views
from notifier.metrics import metrics_view
from users.admin_login import admin_login

api_v1 = [
    path("auth/", include("users.urls_auth")),
    path("users/", include("users.urls")),
    path("templates/", include("templates_app.urls")),
    path("", include("notifications.urls")),
]

admin.site.site_header = "notifier administration"
admin.site.site_title = "notifier"
admin.site.index_title = "Notifications, templates, users and operations"
# The index with a link to the operations page above the apps (notifications/templates/admin/).
admin.site.index_template = "admin/operations_index.html"
# The app list stays on the index and in the breadcrumbs: the lists keep the page's width for columns.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("health", api_views.health, name="health"),
    path("ready", api_views.ready, name="ready"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/login/", admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
]

# Provider webhooks (delivered, bounced...) need their shared secret: without it they are not served.
if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    urlpatterns.append(path("webhooks/anymail/", include("anymail.urls")))

handler400 = "notifier.api.views.bad_request"
handler403 = "notifier.api.views.permission_denied"
handler404 = "notifier.api.views.not_found"
handler500 = "notifier.api.views.server_error"
