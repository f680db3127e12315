"""Routes under /api/v1/templates/. `render` comes before `<code>`, and is a reserved code."""

from django.urls import path

from templates_app import apis

urlpatterns = [
    path("", apis.TemplateListCreateApi.as_view(), name="template-list"),
    path("render", apis.TemplateRenderApi.as_view(), name="template-render"),
    path("<slug:code>", apis.TemplateDetailApi.as_view(), name="template-detail"),
    path("<slug:code>/versions", apis.TemplateVersionListApi.as_view(), name="template-versions"),
    path("<slug:code>/activate", apis.TemplateActivateApi.as_view(), name="template-activate"),
]
