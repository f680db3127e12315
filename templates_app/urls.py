"""URL routes of the templates_app app."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
