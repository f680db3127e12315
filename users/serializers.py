"""Request and response shapes of the users and auth endpoints. Input is strict: a JSON string where a
string is expected, a JSON boolean where a boolean is, and no keys the endpoint does not know about
in the preferences object (other unknown keys, such as `is_staff`, are ignored)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifier.api.validation import StrictBooleanField
from users.models import DEVICE_TOKEN_MAX_LENGTH, Device, User, device_token_format_validator
from users.selectors import preferences_normalized
from users.services import PREFERENCE_CHANNELS

NAME_MAX_LENGTH = User._meta.get_field("name").max_length
EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length
PASSWORD_MAX_LENGTH = 256  # Argon2 takes any length; this only bounds the work a request can cause.
JWT_MAX_LENGTH = 4096
PASSWORD_STYLE = {"input_type": "password"}


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers instead of turning them into strings."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PreferencesSerializer(serializers.Serializer):
    """`{email: bool, push: bool}`; on input any subset, and no other key."""

    email = StrictBooleanField(required=False, help_text="Deliver notifications by email.")
    push = StrictBooleanField(required=False, help_text="Deliver notifications by push.")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        attrs = super().to_internal_value(data)  # refuses anything but an object
        unknown = sorted(str(key) for key in set(data) - set(PREFERENCE_CHANNELS))
        if unknown:
            raise serializers.ValidationError(
                {key: ["Unknown preference; the preferences are email and push."] for key in unknown}
            )
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Give at least one of email and push."]})
        return dict(attrs)


class PreferencesOutputSerializer(serializers.Serializer):
    email = serializers.BooleanField()
    push = serializers.BooleanField()


class WebPushKeysSerializer(serializers.Serializer):
    p256dh = StrictCharField(max_length=200, help_text="The browser's P-256 public key, base64url.")
    auth = StrictCharField(max_length=200, help_text="The browser's 16-byte auth secret, base64url.")


class WebPushSubscriptionSerializer(serializers.Serializer):
    """What a browser's `PushSubscription.toJSON()` gives (expirationTime, if sent, is ignored)."""

    endpoint = StrictCharField(max_length=2048, help_text="The browser's push service URL (https).")
    keys = WebPushKeysSerializer()
    expirationTime = serializers.IntegerField(required=False, allow_null=True)  # the browser's own name


class DeviceInputSerializer(serializers.Serializer):
    token = StrictCharField(
        max_length=DEVICE_TOKEN_MAX_LENGTH,
        validators=[device_token_format_validator],
        required=False,
        help_text="The push token from FCM (or APNs): letters, digits, '_', ':' and '-'.",
    )
    subscription = WebPushSubscriptionSerializer(
        required=False,
        help_text=(
            "Instead of a token, for platform web: a browser's Push API subscription, sent through Web "
            "Push (VAPID). The device's token is then derived from its endpoint."
        ),
    )
    platform = serializers.ChoiceField(choices=Device.Platform.choices)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "token" in attrs and "subscription" in attrs:
            raise serializers.ValidationError({"non_field_errors": ["Give either token or subscription."]})
        if "token" not in attrs and "subscription" not in attrs:
            raise serializers.ValidationError({"token": ["A token, or a subscription for platform web."]})
        return attrs


class DeviceOutputSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(
        choices=["fcm", "web_push"],
        read_only=True,
        help_text="web_push: a browser subscription; fcm: a token.",
    )

    class Meta:
        model = Device
        fields = ["token", "platform", "kind", "active", "last_seen", "created_at"]
        read_only_fields = fields


class UserOutputSerializer(serializers.ModelSerializer):
    preferences = serializers.SerializerMethodField()
    devices = DeviceOutputSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "name",
            "email",
            "preferences",
            "language",
            "is_staff",
            "is_active",
            "created_at",
            "updated_at",
            "devices",
        ]
        read_only_fields = fields

    @extend_schema_field(PreferencesOutputSerializer)
    def get_preferences(self, user: User) -> dict[str, bool]:
        return preferences_normalized(user.preferences)


class UserCreateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH)
    email = StrictEmailField(max_length=EMAIL_MAX_LENGTH)
    password = StrictCharField(
        max_length=PASSWORD_MAX_LENGTH, write_only=True, trim_whitespace=False, style=PASSWORD_STYLE
    )
    push_token = StrictCharField(
        max_length=DEVICE_TOKEN_MAX_LENGTH,
        validators=[device_token_format_validator],
        required=False,
        help_text="Registers a push device for the user.",
    )
    platform = serializers.ChoiceField(
        choices=Device.Platform.choices,
        required=False,
        help_text="The push token's platform; android when omitted.",
    )
    preferences = PreferencesSerializer(required=False)
    language = StrictCharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="The language the user reads (en, de, pt-BR...); a send naming none uses it.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "platform" in attrs and "push_token" not in attrs:
            raise serializers.ValidationError({"platform": ["Give platform only with push_token."]})
        return attrs


class UserUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=NAME_MAX_LENGTH, required=False)
    email = StrictEmailField(max_length=EMAIL_MAX_LENGTH, required=False)
    password = StrictCharField(
        max_length=PASSWORD_MAX_LENGTH,
        required=False,
        write_only=True,
        trim_whitespace=False,
        style=PASSWORD_STYLE,
    )
    preferences = PreferencesSerializer(required=False)
    language = StrictCharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="The language the user reads (en, de, pt-BR...); a send naming none uses it.",
    )
    current_password = StrictCharField(
        max_length=PASSWORD_MAX_LENGTH,
        required=False,
        write_only=True,
        trim_whitespace=False,
        style=PASSWORD_STYLE,
        help_text="Required when a user changes their own email or password.",
    )


class LoginInputSerializer(serializers.Serializer):
    email = StrictCharField(max_length=EMAIL_MAX_LENGTH)
    password = StrictCharField(
        max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True, style=PASSWORD_STYLE
    )


class RefreshInputSerializer(serializers.Serializer):
    refresh_token = StrictCharField(max_length=JWT_MAX_LENGTH)


class TokenPairOutputSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(help_text='Always "Bearer".')
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
