"""URL routes of the users app."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
