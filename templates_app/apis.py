"""The templates API under /api/v1/templates/. Thin: parse, call one service or selector, shape.

Who may call: reads (list, detail, versions) and render are open to any authenticated caller (a user
token, an API key, staff), since templates are shared configuration and rendering has no side effect;
writes (create a version, activate) are for API keys and staff. Anonymous callers get 401.
"""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifier.api import examples as ex
from notifier.api.examples import examples
from notifier.api.pagination import PAGE_QUERY_PARAMETERS, paginated_response
from notifier.api.permissions import IsAuthenticatedCaller, IsServiceOrStaff
from notifier.api.schema import error_codes
from notifier.api.validation import query_params_of
from templates_app import selectors, services
from templates_app.rendering import template_render
from templates_app.serializers import (
    RenderedTemplateOutputSerializer,
    TemplateActivateInputSerializer,
    TemplateCreateInputSerializer,
    TemplateDetailOutputSerializer,
    TemplateFilterSerializer,
    TemplateRenderInputSerializer,
    TemplateVariantFilterSerializer,
    TemplateVariantOutputSerializer,
    TemplateVersionOutputSerializer,
)

TAGS = ["templates"]


class _ReadOpenWriteRestricted(APIView):
    """Safe methods for any authenticated caller; the rest for API keys and staff."""

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method in SAFE_METHODS:
            return [IsAuthenticatedCaller()]
        return [IsServiceOrStaff()]


def _query(serializer_class: type, request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=query_params_of(request))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class TemplateListCreateApi(_ReadOpenWriteRestricted):
    @extend_schema(
        tags=TAGS,
        operation_id="listTemplates",
        description=(
            "One entry per code, language and channel, with its active version's content and "
            "variables, 20 a page; the query parameters filter."
        ),
        examples=examples(response=[ex.TEMPLATE_VARIANT]),
        summary="List templates with their active version",
        parameters=[TemplateFilterSerializer, *PAGE_QUERY_PARAMETERS],
        responses=TemplateVariantOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = _query(TemplateFilterSerializer, request)
        templates = selectors.template_list(**filters)
        return paginated_response(request, self, templates, TemplateVariantOutputSerializer)

    @extend_schema(
        tags=TAGS,
        operation_id="createTemplateVersion",
        examples=examples(request=ex.TEMPLATE_CREATE_REQUEST, response=ex.TEMPLATE_VERSION, status=201),
        summary="Create a template, or its next version (API key or staff)",
        description=(
            "Creates the template (code, language, notification_type) if it is new, else its next "
            "version; the new version becomes the active one. The Mustache syntax of every field is "
            "checked (400 `template_syntax_error` with the parser's message). Email templates may have "
            "`html_body`; push templates may have `image_url` and `link`."
        ),
        request=TemplateCreateInputSerializer,
        responses={201: TemplateVersionOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = TemplateCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.template_create_or_version(**serializer.validated_data)
        return Response(TemplateVersionOutputSerializer(version).data, status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        tags=TAGS,
        operation_id="getTemplate",
        description=("Every language and channel of the code, each with its active version."),
        extensions=error_codes("method_not_allowed", "template_not_found"),
        examples=examples(response=ex.TEMPLATE_DETAIL),
        summary="A template code with all its language and type variants",
        parameters=[TemplateVariantFilterSerializer],
        responses={
            200: TemplateDetailOutputSerializer,
            405: OpenApiResponse(
                description="The code is `render`, a reserved code: `/templates/render` takes POST only"
            ),
        },
    )
    def get(self, request: Request, code: str) -> Response:
        filters = _query(TemplateVariantFilterSerializer, request)
        variants = selectors.template_variants_get(code=code, **filters)
        return Response(TemplateDetailOutputSerializer({"code": code, "variants": variants}).data)


class TemplateVersionListApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        tags=TAGS,
        operation_id="listTemplateVersions",
        description=(
            "Every version of the code (for one language and channel when the parameters say so), "
            "newest first, 20 a page; `is_active` marks the one in use."
        ),
        extensions=error_codes("template_not_found"),
        examples=examples(response=[{**ex.TEMPLATE_VERSION, "version": 1, "is_active": True}]),
        summary="The version history of a template code, newest first",
        parameters=[TemplateVariantFilterSerializer, *PAGE_QUERY_PARAMETERS],
        responses=TemplateVersionOutputSerializer(many=True),
    )
    def get(self, request: Request, code: str) -> Response:
        filters = _query(TemplateVariantFilterSerializer, request)
        versions = selectors.template_version_list(code=code, **filters)
        return paginated_response(request, self, versions, TemplateVersionOutputSerializer)


class TemplateActivateApi(APIView):
    permission_classes = [IsServiceOrStaff]

    @extend_schema(
        tags=TAGS,
        operation_id="activateTemplateVersion",
        description=(
            "Sends from now on use this version (a rollback, or a version made ahead). The language is "
            "exact; without `notification_type` the code must exist for one channel in it."
        ),
        extensions=error_codes("template_not_found"),
        examples=examples(
            request=ex.TEMPLATE_ACTIVATE_REQUEST, response={**ex.TEMPLATE_VERSION, "version": 1}
        ),
        summary="Make an existing version the active one (API key or staff)",
        request=TemplateActivateInputSerializer,
        responses=TemplateVersionOutputSerializer,
    )
    def post(self, request: Request, code: str) -> Response:
        serializer = TemplateActivateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.template_activate(code=code, **serializer.validated_data)
        return Response(TemplateVersionOutputSerializer(version).data)


class TemplateRenderApi(APIView):
    permission_classes = [IsAuthenticatedCaller]

    @extend_schema(
        tags=TAGS,
        operation_id="renderTemplate",
        extensions=error_codes("template_not_found", "missing_variables"),
        examples=examples(request=ex.TEMPLATE_RENDER_REQUEST, response=ex.RENDERED_TEMPLATE),
        summary="Render a template with variables (no side effect)",
        description=(
            "Resolves the template with language fallback (pt-BR -> pt -> the default language) and "
            "renders the active version, or `version`. Missing variables: 400 `missing_variables` with "
            "`data.missing` naming each. Only `html_body` is HTML-escaped."
        ),
        request=TemplateRenderInputSerializer,
        responses=RenderedTemplateOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = TemplateRenderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        code = data["template_code"]
        notification_type = data.get("notification_type") or selectors.template_notification_type_infer(
            code=code
        )
        version = selectors.template_version_resolve(
            code=code,
            notification_type=notification_type,
            language=data.get("language"),
            version=data.get("version"),
        )
        rendered = template_render(version=version, variables=data["variables"])
        return Response(RenderedTemplateOutputSerializer(rendered).data)
