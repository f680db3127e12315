"""Topics under /api/v1/topics/: API keys and staff only. Only they create topics and add or remove
subscribers, so a user cannot put anyone into a topic; a user lists and leaves their own topics under
/api/v1/users/{user_id}/topics (users.apis)."""

from collections.abc import Callable
from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.models import Topic
from notifications.selectors import topic_get, topic_list, topic_subscriber_list
from notifications.serializers import (
    TopicCreateSerializer,
    TopicSerializer,
    TopicSubscribersChangeSerializer,
    TopicSubscriberSerializer,
    TopicSubscribersInputSerializer,
    TopicUpdateSerializer,
)
from notifications.services.topics import (
    SubscribersChange,
    topic_create,
    topic_delete,
    topic_not_found,
    topic_subscribers_add,
    topic_subscribers_remove,
    topic_update,
)
from notifier.api import examples as ex
from notifier.api.examples import examples
from notifier.api.pagination import PAGE_QUERY_PARAMETERS, paginated_response
from notifier.api.permissions import IsServiceOrStaff
from notifier.api.schema import DELETED_RESPONSE, DeleteWithBodySchema, error_codes
from notifier.api.validation import validated_body

TOPICS_TAG = "topics"


def _topic(key: str, *, counted: bool = True) -> Topic:
    """The topic `key` (404 otherwise); `counted`: with its subscriber count, which only reads show."""
    topic = topic_get(key=key, counted=counted)
    if topic is None:
        raise topic_not_found()
    return topic


class TopicListCreateApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="listTopics",
        description=("Topics by key, 20 a page, each with its subscriber count."),
        examples=examples(response=[ex.TOPIC]),
        summary="List topics with their subscriber counts",
        tags=[TOPICS_TAG],
        parameters=PAGE_QUERY_PARAMETERS,
        responses=TopicSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return paginated_response(request, self, topic_list(), TopicSerializer)

    @extend_schema(
        operation_id="createTopic",
        description=(
            "A topic users subscribe to; a send with `topic` reaches every subscriber. The key is unique "
            "(409 when taken)."
        ),
        extensions=error_codes("conflict"),
        examples=examples(request=ex.TOPIC_CREATE_REQUEST, response=ex.TOPIC_CREATED, status=201),
        summary="Create a topic",
        tags=[TOPICS_TAG],
        request=TopicCreateSerializer,
        responses={201: TopicSerializer, 409: OpenApiResponse(description="The key is taken")},
    )
    def post(self, request: Request) -> Response:
        topic = topic_create(**validated_body(TopicCreateSerializer, request))
        topic.subscribers = 0  # type: ignore[attr-defined]  # a new topic has none
        return Response(TopicSerializer(topic).data, status=status.HTTP_201_CREATED)


class TopicDetailApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        operation_id="getTopic",
        summary="A topic",
        description="The topic with its subscriber count.",
        tags=[TOPICS_TAG],
        responses=TopicSerializer,
        examples=examples(response=ex.TOPIC),
    )
    def get(self, request: Request, key: str) -> Response:
        return Response(TopicSerializer(_topic(key)).data)

    @extend_schema(
        operation_id="updateTopic",
        description=("Only the fields given change; the key stays."),
        examples=examples(request=ex.TOPIC_UPDATE_REQUEST, response={**ex.TOPIC, **ex.TOPIC_UPDATE_REQUEST}),
        summary="Rename a topic or change its description",
        tags=[TOPICS_TAG],
        request=TopicUpdateSerializer,
        responses=TopicSerializer,
    )
    def patch(self, request: Request, key: str) -> Response:
        topic = topic_update(topic=_topic(key), **validated_body(TopicUpdateSerializer, request))
        return Response(TopicSerializer(topic).data)

    @extend_schema(
        operation_id="deleteTopic",
        description=("Deletes the topic and every subscription to it; broadcasts already sent keep its key."),
        summary="Delete a topic and its subscriptions (its broadcasts keep its key)",
        tags=[TOPICS_TAG],
        responses={200: DELETED_RESPONSE},
    )
    def delete(self, request: Request, key: str) -> Response:
        topic_delete(topic=_topic(key, counted=False))
        return Response(None)


class TopicSubscribersApi(APIView):
    permission_classes = [IsServiceOrStaff]
    schema = DeleteWithBodySchema()

    @extend_schema(
        operation_id="listTopicSubscribers",
        description=("The users subscribed to the topic, with when, 20 a page."),
        examples=examples(response=[ex.TOPIC_SUBSCRIBER]),
        summary="List a topic's subscribers, in user id order",
        tags=[TOPICS_TAG],
        parameters=PAGE_QUERY_PARAMETERS,
        responses=TopicSubscriberSerializer(many=True),
    )
    def get(self, request: Request, key: str) -> Response:
        return paginated_response(
            request, self, topic_subscriber_list(topic=_topic(key, counted=False)), TopicSubscriberSerializer
        )

    @extend_schema(
        operation_id="subscribeToTopic",
        examples=examples(request=ex.SUBSCRIBERS_REQUEST, response=ex.SUBSCRIBERS_CHANGE),
        summary="Subscribe users to a topic, in bulk",
        description=(
            "All or nothing: a user id that is not an active user refuses the call (400, naming them). "
            "Users already subscribed are counted, not an error."
        ),
        tags=[TOPICS_TAG],
        request=TopicSubscribersInputSerializer,
        responses={
            200: TopicSubscribersChangeSerializer,
            413: OpenApiResponse(description="More than TOPIC_SUBSCRIBERS_MAX_PER_CALL user ids"),
        },
    )
    def post(self, request: Request, key: str) -> Response:
        return self._change(request, key, topic_subscribers_add)

    @extend_schema(
        operation_id="unsubscribeFromTopic",
        examples=examples(
            request=ex.SUBSCRIBERS_REQUEST, response={**ex.SUBSCRIBERS_CHANGE, "subscribers": 0}
        ),
        summary="Unsubscribe users from a topic, in bulk",
        description="User ids that are not subscribers are counted, not an error.",
        tags=[TOPICS_TAG],
        request=TopicSubscribersInputSerializer,
        responses={
            200: TopicSubscribersChangeSerializer,
            413: OpenApiResponse(description="More than TOPIC_SUBSCRIBERS_MAX_PER_CALL user ids"),
        },
    )
    def delete(self, request: Request, key: str) -> Response:
        return self._change(request, key, topic_subscribers_remove)

    def _change(self, request: Request, key: str, change: Callable[..., SubscribersChange]) -> Response:
        data = validated_body(TopicSubscribersInputSerializer, request)
        return Response(asdict(change(topic=_topic(key, counted=False), user_ids=data["user_ids"])))
