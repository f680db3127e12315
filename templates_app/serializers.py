"""Input validation and output shapes of the templates API. Logic stays in services and selectors."""

from typing import Any

from rest_framework import serializers

from notifier.api.validation import JSONObjectField
from templates_app.languages import LANGUAGE_MAX_LENGTH, language_is_valid, language_normalize
from templates_app.models import NotificationType, TemplateVersion
from templates_app.rendering import http_url_validator

MAX_SUBJECT_CHARS = 998  # RFC 5322 line length; also the column's size
MAX_BODY_CHARS = 100_000
MAX_URL_CHARS = 2048
MAX_VARIABLES_BYTES = 64 * 1024
MAX_VARIABLES_DEPTH = 10


class LanguageField(serializers.CharField):
    """A language tag in any case, returned in its canonical case: pt-br -> pt-BR."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=LANGUAGE_MAX_LENGTH, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        language = language_normalize(language=super().to_internal_value(data))
        if not language_is_valid(language=language):
            raise serializers.ValidationError("Not a language tag like en, fr or pt-BR.")
        return language


class UrlTemplateField(serializers.CharField):
    """An http(s) URL, or a Mustache source containing a tag ("https://x.test/{{id}}", "{{link}}")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_URL_CHARS, required=False, allow_blank=True, default="", **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value and "{{" not in value:
            http_url_validator(value)
        return value


class TemplateCreateInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=100)
    language = LanguageField(required=False, help_text="DEFAULT_LANGUAGE (en) when omitted.")
    notification_type = serializers.ChoiceField(choices=NotificationType.choices)
    subject = serializers.CharField(max_length=MAX_SUBJECT_CHARS, help_text="Email subject or push title.")
    body = serializers.CharField(max_length=MAX_BODY_CHARS, trim_whitespace=False)
    html_body = serializers.CharField(
        max_length=MAX_BODY_CHARS, trim_whitespace=False, required=False, allow_blank=True, default=""
    )
    image_url = UrlTemplateField(help_text="Push only.")
    link = UrlTemplateField(help_text="Push only.")
    description = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Replaces the template's description."
    )


class TemplateActivateInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    language = LanguageField()
    notification_type = serializers.ChoiceField(
        choices=NotificationType.choices,
        required=False,
        help_text="Required when the code exists for both email and push in this language.",
    )


class TemplateRenderInputSerializer(serializers.Serializer):
    template_code = serializers.SlugField(max_length=100)
    notification_type = serializers.ChoiceField(
        choices=NotificationType.choices,
        required=False,
        help_text="Required when the code exists for both email and push.",
    )
    language = LanguageField(required=False, help_text="Falls back pt-BR -> pt -> the default language.")
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, help_text="Default: the active version."
    )
    variables = JSONObjectField(
        max_bytes=MAX_VARIABLES_BYTES, max_depth=MAX_VARIABLES_DEPTH, required=False, default=dict
    )


class TemplateFilterSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=100, required=False)
    language = LanguageField(required=False)
    notification_type = serializers.ChoiceField(choices=NotificationType.choices, required=False)


class TemplateVariantFilterSerializer(serializers.Serializer):
    language = LanguageField(required=False)
    notification_type = serializers.ChoiceField(choices=NotificationType.choices, required=False)


class VariablesOutputSerializer(serializers.Serializer):
    required = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    optional = serializers.ListField(child=serializers.CharField())


class TemplateVersionOutputSerializer(serializers.Serializer):
    code = serializers.CharField(source="template.code")
    language = serializers.CharField(source="template.language")
    notification_type = serializers.CharField(source="template.notification_type")
    version = serializers.IntegerField()
    subject = serializers.CharField()
    body = serializers.CharField()
    html_body = serializers.CharField()
    image_url = serializers.CharField()
    link = serializers.CharField()
    description = serializers.CharField(source="template.description")
    variables = VariablesOutputSerializer()
    is_active = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_is_active(self, version: TemplateVersion) -> bool:
        return version.template.active_version_id == version.id


class TemplateVariantOutputSerializer(serializers.Serializer):
    """A template with its active version's content flattened in (null fields if it has none)."""

    code = serializers.CharField()
    language = serializers.CharField()
    notification_type = serializers.CharField()
    description = serializers.CharField()
    active_version = serializers.IntegerField(source="active_version.version", allow_null=True)
    versions_count = serializers.IntegerField()
    subject = serializers.CharField(source="active_version.subject", allow_null=True)
    body = serializers.CharField(source="active_version.body", allow_null=True)
    html_body = serializers.CharField(source="active_version.html_body", allow_null=True)
    image_url = serializers.CharField(source="active_version.image_url", allow_null=True)
    link = serializers.CharField(source="active_version.link", allow_null=True)
    variables = VariablesOutputSerializer(source="active_version.variables", allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TemplateDetailOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    variants = TemplateVariantOutputSerializer(many=True)


class RenderedTemplateOutputSerializer(serializers.Serializer):
    subject = serializers.CharField()
    body = serializers.CharField()
    html_body = serializers.CharField()
    image_url = serializers.CharField()
    link = serializers.CharField()
    version = serializers.IntegerField()
    language = serializers.CharField(help_text="The language used, after fallback.")
