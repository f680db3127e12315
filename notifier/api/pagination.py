"""`?page=&limit=` pagination; the envelope's `meta` carries the totals."""

import re
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

_POSITIVE_INTEGER = re.compile(r"^[1-9][0-9]{0,17}$")


class EnvelopePagination(PageNumberPagination):
    page_query_param = "page"
    page_size_query_param = "limit"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.PAGINATION_MAX_LIMIT

    def get_page_size(self, request: Request) -> int | None:
        """`limit`: a whole number from 1 (400 otherwise), capped at PAGINATION_MAX_LIMIT."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _POSITIVE_INTEGER.match(raw):
            raise ValidationError({self.page_size_query_param: ["A whole number from 1."]})
        return min(int(raw), self.max_page_size)

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        """`page`: a whole number from 1 (400 otherwise); a page past the end stays a 404."""
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not _POSITIVE_INTEGER.match(raw):
            raise ValidationError({self.page_query_param: ["A whole number from 1."]})
        return int(raw)

    def get_paginated_response(self, data: Any) -> Response:
        assert self.page is not None and self.request is not None
        paginator = self.page.paginator
        response = Response(data)
        response.envelope_meta = {  # type: ignore[attr-defined]
            "total": paginator.count,
            "limit": paginator.per_page,
            "page": self.page.number,
            "total_pages": paginator.num_pages,
            "has_next": self.page.has_next(),
            "has_previous": self.page.has_previous(),
        }
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return schema


# The query parameters of every paginated list, for its OpenAPI description.
PAGE_QUERY_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Items per page (default 20, at most 100)."),
]


def paginated_response(request: Request, view: Any, items: Any, serializer_class: type[Any]) -> Response:
    """One page of `items`, serialized, in the envelope with the page's meta."""
    paginator = EnvelopePagination()
    page: Any = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
