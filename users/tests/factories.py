import factory
from factory.django import DjangoModelFactory
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from users.models import Device, User

DEFAULT_PASSWORD = "correct-horse-battery-staple"


def fcm_token(n: int) -> str:
    """A token shaped like a real FCM registration token: ~160 characters with ':' and '-'."""
    return f"d{n:07d}-Xk2:APA91bH" + "q" * 60 + f"_{n:05d}-" + "Z" * 80


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    preferences = factory.LazyFunction(lambda: {"email": True, "push": True})
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class DeviceFactory(DjangoModelFactory):
    class Meta:
        model = Device

    user = factory.SubFactory(UserFactory)
    token = factory.Sequence(fcm_token)
    platform = Device.Platform.ANDROID
    active = True


def users_bulk(count: int, *, prefix: str = "bulk", **fields: object) -> list[User]:
    """`count` recipients in one INSERT, without a usable password (hashing one each takes seconds)."""
    users = [
        User(name=f"{prefix} {i}", email=f"{prefix}-{i}@example.com", password="!", **fields)
        for i in range(count)
    ]
    return User.objects.bulk_create(users, batch_size=5000)


def bearer_client(user: User) -> APIClient:
    """An API client carrying a fresh access token of `user`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client
