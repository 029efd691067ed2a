"""GET /api/v1/compare/cases/?a=&b=: the comparison's verdict pairs, keyset-paged.

The compare page's per-case table as JSON: the same query
(:func:`evaluations.reports.comparison_case_page`), in case-id order, one change kind and
evaluator at a time if asked. A page looks at a bounded window of cases, so it costs the same
at a million responses as at a hundred; a page can come back short (even empty) with a
``next`` link when its window held too few matching rows: ``scanned_through`` then names the
last case it looked at. Follow ``next`` until it is null.
"""

from urllib.parse import urlencode

from django import forms
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as ApiResponse

from evaluations import reports
from evaluations.filters import FILTER_MAX_LENGTH, MAX_ID, ComparisonCasesForm, RunPairForm
from evaluations.models import Evaluation
from mleval_site.api_schema import KEYSET_CURSOR_FORMAT
from mleval_site.pagination import BadCursor

PAGE_SIZE = 100
RUN_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}  # as RunIdField checks it
MAX_PAGE_SIZE = 1000


class PageParams(RunPairForm, ComparisonCasesForm):
    """The two runs, the table's filters, the cursor and the page size."""

    after = forms.CharField(required=False, max_length=1000)
    page_size = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)


PAGE = inline_serializer(
    "ComparisonCasesPage",
    {
        "next": serializers.URLField(allow_null=True),
        "scanned_through": serializers.IntegerField(allow_null=True),
        "results": inline_serializer(
            "ComparisonCase",
            {
                "test_case_id": serializers.IntegerField(),
                "evaluator": serializers.CharField(),
                "change": serializers.ChoiceField(choices=reports.CHANGE_KINDS),
                "a_passed": serializers.BooleanField(allow_null=True),
                "b_passed": serializers.BooleanField(allow_null=True),
                "a_score": serializers.FloatField(allow_null=True),
                "b_score": serializers.FloatField(allow_null=True),
            },
            many=True,
        ),
    },
)
CURSOR = {"anyOf": [{"type": "string", "format": KEYSET_CURSOR_FORMAT}, {"const": ""}]}


class CompareCasesView(GenericAPIView):
    permission_model = Evaluation
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        summary="The comparison's verdict pairs, keyset-paged",
        description="Per case and evaluator, both runs' verdicts and the change (as the compare "
        "page's table), by case id then evaluator. Each page looks at a bounded window of "
        "cases: a short or empty page with a `next` link is not the end (`scanned_through` "
        "names the last case it looked at); follow `next` until it is null.",
        parameters=[
            OpenApiParameter("a", RUN_ID, required=True, description="Run A (the baseline)."),
            OpenApiParameter("b", RUN_ID, required=True, description="Run B (the candidate)."),
            OpenApiParameter(
                "change",
                {"type": "string", "enum": ["", *reports.CHANGE_KINDS]},
                description="Only this change kind (empty: all).",
            ),
            OpenApiParameter(
                "evaluator",
                {"type": "string", "maxLength": FILTER_MAX_LENGTH},
                description="Only this evaluator (empty: all).",
            ),
            OpenApiParameter("after", CURSOR, description="The page after this cursor."),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": PAGE_SIZE},
            ),
        ],
        responses={200: PAGE},
    )
    def get(self, request):
        params = PageParams(request.query_params)
        if not params.is_valid():
            if params.only_missing_runs():
                raise Http404("No run matches the given query.")
            raise serializers.ValidationError(
                {name: list(messages) for name, messages in params.errors.items()}
            )
        data = params.cleaned_data
        try:
            page = reports.comparison_case_page(
                *params.runs(),
                change=data["change"] or None,
                evaluator=data["evaluator"] or None,
                after=data["after"] or None,
                limit=data["page_size"] or PAGE_SIZE,
            )
        except BadCursor as error:
            raise serializers.ValidationError({"after": [str(error)]}) from None
        next_link = None
        if page.next_cursor is not None:
            query = {k: v for k, v in request.query_params.items() if k != "after"}
            query = urlencode({**query, "after": page.next_cursor})
            next_link = request.build_absolute_uri(f"{request.path}?{query}")
        return ApiResponse(
            {"next": next_link, "scanned_through": page.scanned_through, "results": page.rows}
        )
