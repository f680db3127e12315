"""`?page=&limit=` pagination; the envelope's `meta` carries the totals."""

from typing import Any

from django.conf import settings
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class EnvelopePagination(PageNumberPagination):
    page_query_param = "page"
    page_size_query_param = "limit"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return settings.PAGINATION_MAX_LIMIT

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
