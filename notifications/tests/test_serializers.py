"""The send's fast validation path answers exactly what the serializer answers, wherever it answers."""

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from notifications.serializers import NotificationCreateSerializer, notification_create_fast

VALID = {
    "notification_type": "email",
    "user_id": "0b7f0e0c-1111-4222-8333-444455556666",
    "template_code": "welcome",
    "variables": {"name": "Ada", "code": 7},
    "request_id": "signup-42",
}

# Per field, values the serializer accepts and values it refuses, of every JSON type.
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
FIELD_VALUES = {
    "notification_type": st.sampled_from(["email", "push", "sms", "", " email", "EMAIL"]) | ANY_JSON,
    "user_id": st.uuids().map(str)
    | st.uuids().map(lambda u: str(u).upper())
    | st.uuids().map(lambda u: u.hex)
    | st.sampled_from(["", "not-a-uuid", " 0b7f0e0c-1111-4222-8333-444455556666"])
    | ANY_JSON,
    "template_code": st.from_regex(r"[-a-zA-Z0-9_]{1,101}", fullmatch=True)
    | st.sampled_from(["", " welcome", "wel come", "wélcome", "welcome\n"])
    | ANY_JSON,
    "variables": st.dictionaries(st.text(max_size=5), ANY_JSON, max_size=4)
    | st.just({"deep": [[[[[[[[[[[["x"]]]]]]]]]]]]})
    | st.just({"x": "a\x00b"})
    | ANY_JSON,
    "request_id": st.text(min_size=0, max_size=130)
    | st.sampled_from(["", " ", "a\x00", "\ud800", "x" * 128, "x" * 129])
    | ANY_JSON,
    "priority": st.integers(min_value=-2, max_value=12)
    | st.sampled_from([True, False, "5", 5.0, None])
    | ANY_JSON,
    "language": st.sampled_from(["en", "pt-BR", "zh-Hant-TW", "e", "en ", " en", "en\n", "english", "a" * 17])
    | ANY_JSON,
    "metadata": st.dictionaries(st.text(max_size=5), ANY_JSON, max_size=4) | ANY_JSON,
}


@st.composite
def bodies(draw):
    body = dict(VALID)
    for name, values in FIELD_VALUES.items():
        choice = draw(st.sampled_from(["keep", "drop", "replace", "replace"]))
        if choice == "drop":
            body.pop(name, None)
        elif choice == "replace":
            body[name] = draw(values)
    return body


def _serializer_answer(body):
    try:
        return dict(NotificationCreateSerializer().run_validation(body))
    except serializers.ValidationError:
        return None


@settings(max_examples=1500, deadline=None)
@given(bodies())
def test_the_fast_path_answers_what_the_serializer_answers(body):
    validator = NotificationCreateSerializer()
    fast = notification_create_fast(body, validator)

    if fast is not None:
        assert fast == _serializer_answer(body)


def test_the_fast_path_takes_the_common_bodies():
    validator = NotificationCreateSerializer()
    bodies = [
        VALID,
        {**VALID, "priority": 9, "language": "pt-BR", "metadata": {"k": "v"}},
        {**VALID, "notification_type": "push", "user_id": str(uuid.uuid4()), "variables": {}},
    ]

    for body in bodies:
        fast = notification_create_fast(body, validator)
        assert fast is not None
        assert fast == _serializer_answer(body)


def test_the_fast_path_leaves_what_it_does_not_know_to_the_serializer():
    validator = NotificationCreateSerializer()

    for body in (
        {**VALID, "priority": "5"},
        {**VALID, "language": "en "},
        {**VALID, "variables": None},
        [VALID],
    ):
        assert notification_create_fast(body, validator) is None
