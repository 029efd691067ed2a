"""GET /api/v1/runs/<run_id>/failing/: the run's failing verdicts, worst first, keyset-paged.

The report page's failing-cases table as JSON: the same query
(:func:`evaluations.reports.failing_evaluations`) and the same pages
(:func:`mleval_site.pagination.keyset_page`), so a page costs the same few index reads at a
million responses as at a hundred. ``next`` / ``previous`` are the links to follow; ``count``
is exact up to a thousand verdicts (or from the run's summary when unfiltered), else the
planner's estimate (``count_is_estimate``).
"""

from urllib.parse import urlencode

from django import forms
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse

from evaluations import reports, summaries
from evaluations.api import RunActionView
from evaluations.filters import FILTER_MAX_LENGTH, FailingCasesForm
from evaluations.models import Evaluation
from mleval_site.api_schema import KEYSET_CURSOR_FORMAT
from mleval_site.pagination import BadCursor, keyset_page

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
FILTERS = ("evaluator", *reports.SLICE_DIMENSIONS)


class PageParams(FailingCasesForm):
    """The page's filters, the two cursors and the page size."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["after"] = forms.CharField(required=False, max_length=1000)
        self.fields["before"] = forms.CharField(required=False, max_length=1000)
        self.fields["page_size"] = forms.IntegerField(
            required=False, min_value=1, max_value=MAX_PAGE_SIZE
        )


VERDICTS = inline_serializer(
    "FailingVerdict",
    {
        "id": serializers.IntegerField(),
        "test_case_id": serializers.IntegerField(),
        "response_id": serializers.IntegerField(),
        "evaluator_type": serializers.CharField(),
        "score": serializers.FloatField(),
        "feedback": serializers.CharField(),
        "metrics": serializers.JSONField(),
    },
    many=True,
)
PAGE = inline_serializer(
    "FailingVerdictsPage",
    {
        "count": serializers.IntegerField(),
        "count_is_estimate": serializers.BooleanField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": VERDICTS,
    },
)
TEXT = {"type": "string", "maxLength": FILTER_MAX_LENGTH}
CURSOR = {"anyOf": [{"type": "string", "format": KEYSET_CURSOR_FORMAT}, {"const": ""}]}


class FailingView(RunActionView):
    permission_model = Evaluation

    @extend_schema(
        summary="The run's failing verdicts, worst first",
        description="Lowest score first, then scoring order; keyset pages: follow `next` and "
        "`previous`. Filters as the report page's table (empty = no filter).",
        parameters=[
            *(OpenApiParameter(name, TEXT, description=f"Only this {name}.") for name in FILTERS),
            OpenApiParameter("after", CURSOR, description="The page after this cursor."),
            OpenApiParameter("before", CURSOR, description="The page before this cursor."),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": PAGE_SIZE},
            ),
        ],
        responses={200: PAGE},
    )
    def get(self, request, run_id: int):
        run = self.get_run()
        params = PageParams(request.query_params)
        if not params.is_valid():
            raise serializers.ValidationError(
                {name: list(messages) for name, messages in params.errors.items()}
            )
        data = params.cleaned_data
        selected = {name: data[name] for name in FILTERS}
        queryset = reports.failing_evaluations(
            run, selected["evaluator"] or None, **params.slices()
        )
        count = None if any(selected.values()) else summaries.failing_count(run)
        try:
            page = keyset_page(
                queryset.select_related(None).select_related("response"),
                per_page=data["page_size"] or PAGE_SIZE,
                after=data["after"] or None,
                before=data["before"] or None,
                count=count,
                constant=reports.failing_cursor_constant(selected["evaluator"]),
            )
        except BadCursor as error:
            name = "after" if data["after"] else "before"
            raise serializers.ValidationError({name: [str(error)]}) from None
        return ApiResponse(
            {
                "count": page.count,
                "count_is_estimate": page.count_is_estimate,
                "next": self._link(request, "after", page.next_cursor),
                "previous": self._link(request, "before", page.previous_cursor),
                "results": [
                    {
                        "id": verdict.pk,
                        "test_case_id": verdict.response.test_case_id,
                        "response_id": verdict.response_id,
                        "evaluator_type": verdict.evaluator_type,
                        "score": verdict.score,
                        "feedback": verdict.feedback,
                        "metrics": verdict.metrics,
                    }
                    for verdict in page
                ],
            }
        )

    @staticmethod
    def _link(request, name: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        query = {k: v for k, v in request.query_params.items() if k not in ("after", "before")}
        return request.build_absolute_uri(f"{request.path}?{urlencode({**query, name: cursor})}")
