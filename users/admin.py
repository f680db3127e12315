"""The admin for users (email, not username, identifies them), with their devices inline."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from notifier.api.errors import ApplicationError
from users.models import Device, User
from users.selectors import user_profile_invalidate
from users.services import email_normalize, preferences_validate


class _UserFormRules(forms.ModelForm):
    """The rules the API applies, for the admin's forms: one address per mailbox, whatever its case,
    and preferences of exactly the shape the delivery pipeline reads."""

    def clean_email(self) -> str:
        email = email_normalize(self.cleaned_data["email"])
        others = User.objects.filter(email__iexact=email)
        if self.instance.pk is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email

    def clean_preferences(self) -> dict[str, bool]:
        try:
            return preferences_validate(self.cleaned_data.get("preferences"), partial=False)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from exc


class UserAdminCreationForm(_UserFormRules, BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name", "preferences", "language")


class UserAdminChangeForm(_UserFormRules, DjangoUserChangeForm):
    class Meta:
        model = User
        fields = (
            "email",
            "password",
            "name",
            "preferences",
            "language",
            "is_active",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
        )


class DeviceInline(admin.TabularInline):
    model = Device
    extra = 0
    fields = ("token", "platform", "active", "last_seen", "created_at")
    readonly_fields = ("last_seen", "created_at")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("name", "preferences", "language")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "name", "preferences", "password1", "password2")}),
    )
    list_display = ("email", "name", "is_active", "is_staff", "created_at")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "name")
    ordering = ("-created_at",)
    readonly_fields = ("id", "last_login", "created_at", "updated_at")
    inlines = [DeviceInline]

    # The delivery pipeline caches name, email, preferences and is_active; every admin write drops it.
    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        user_profile_invalidate(user_id=obj.pk)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        user_id = obj.pk
        super().delete_model(request, obj)
        user_profile_invalidate(user_id=user_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        user_ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for user_id in user_ids:
            user_profile_invalidate(user_id=user_id)


# The refresh tokens' bookkeeping (rotation, revocation) belongs to the API; an operator acts on users and
# API keys, not on these rows, so they stay out of the admin's index.
for _model in (OutstandingToken, BlacklistedToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
