"""/api/v1/runs/<id>/responses/: a run's responses, read (cursor-paginated) and stored.

Responses are stored by `runs.ingestion.ingest_responses` (validation, COPY, upsert), the same
code as the run page's upload and `import_responses`; a JSON list or NDJSON lines (streamed).
"""

import codecs
from collections.abc import Iterator

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response as ApiResponse
from rest_framework.settings import api_settings

from mleval_site.api import Conflict, OldestFirstCursorPage, SafeJSONParser, check_body_size
from mleval_site.api_schema import MIN_ITEMS, json_value, register, required_body, text
from runs.api import RunSerializer
from runs.ingestion import ingest_responses
from runs.models import ModelRun, Response
from runs.replies import error_for
from runs.response_lines import BIGINT_MAX, IGNORED_FIELDS, INT_MAX, IngestError

NDJSON = "application/x-ndjson"
NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


class NDJSONParser(BaseParser):
    """`application/x-ndjson`: the body's lines, read lazily so a large upload is streamed."""

    media_type = NDJSON

    def parse(self, stream, media_type=None, parser_context=None) -> Iterator[bytes]:
        limit = settings.MLEVAL_MAX_UPLOAD_BYTES
        check_body_size(parser_context, limit, "MLEVAL_MAX_UPLOAD_BYTES")
        return _lines(stream)


def _lines(stream) -> Iterator[bytes]:
    if stream is None:  # an empty body
        return
    pending = b""
    while chunk := stream.read(1 << 16):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


def _strip_bom(lines: Iterator[bytes]) -> Iterator[bytes]:
    for first in lines:
        yield first.removeprefix(codecs.BOM_UTF8)
        yield from lines


class ResponseSerializer(serializers.ModelSerializer):
    test_case_id = serializers.IntegerField(read_only=True)
    output_data = serializers.JSONField(allow_null=True)

    class Meta:
        model = Response
        fields = (
            "id",
            "test_case_id",
            "output_data",
            "latency_ms",
            "memory_mb",
            "tokens_used",
            "error_message",
            "created_at",
        )

    def to_representation(self, response: Response) -> dict:
        """A failed call's reply excerpt only for engineers and admins (runs.replies)."""
        data = super().to_representation(response)
        request = self.context.get("request")
        data["error_message"] = error_for(getattr(request, "user", None), data["error_message"])
        return data


_MEASURE = {"type": ["number", "null"], "minimum": 0}
# One response line as ingestion checks it (runs.response_lines), written by hand: the case by
# test_case_id or external_id (one of them), output_data required, a key it does not know
# refused; the keys it ignores (a list read back from GET) allowed.
RESPONSE_LINE = register(
    "ResponseInRequest",
    {
        "type": "object",
        "description": "One response line (docs/formats.md). Cases named by neither or both ids "
        "are a 400; a case outside the run, an unknown external_id or a case named twice is a "
        "409 (the schema cannot know the data).",
        "properties": {
            "test_case_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": BIGINT_MAX,
                "description": "The case's id; or give external_id instead.",
            },
            "external_id": {
                "anyOf": [text(minLength=1), {"type": "integer"}],
                "description": "The case's external_id (an integer: its digits), instead of "
                "test_case_id.",
            },
            "output_data": json_value(description="Any JSON value, null too."),
            "latency_ms": {**_MEASURE, "description": "Milliseconds; decimals kept."},
            "memory_mb": _MEASURE,
            "tokens_used": {"type": ["integer", "null"], "minimum": 0, "maximum": INT_MAX},
            "error_message": {"anyOf": [text(), {"type": "null"}]},
            **{name: json_value(description="Ignored.") for name in sorted(IGNORED_FIELDS)},
        },
        "required": ["output_data"],
        "oneOf": [{"required": ["test_case_id"]}, {"required": ["external_id"]}],
        "additionalProperties": False,
    },
)


IngestResultSerializer = inline_serializer(
    "IngestResult",
    {
        "imported": serializers.IntegerField(),
        "created": serializers.IntegerField(),
        "replaced": serializers.IntegerField(),
        "run": RunSerializer(),
    },
)


@extend_schema_view(
    get=extend_schema(
        summary="List a run's responses",
        description="Oldest first, cursor-paginated.",
        responses={200: ResponseSerializer(many=True)},
    ),
    post=extend_schema(
        summary="Store responses (atomic upsert)",
        description="A JSON list of response objects, or `Content-Type: application/x-ndjson` "
        "with one per line (streamed). Re-sending a case replaces its response (and drops its "
        "old verdicts). All or nothing: errors are keyed `<n>.<field>`, n being the list index "
        "(from 0) or the NDJSON line (from 1).",
        request={
            "application/json": required_body({"type": "array", "items": RESPONSE_LINE}),
            NDJSON: OpenApiTypes.STR,
        },
        responses={200: IngestResultSerializer},
        extensions={MIN_ITEMS: 1},  # an empty list is refused (400)
        examples=[
            OpenApiExample(
                "Two responses",
                value=[
                    {"test_case_id": 17, "output_data": {"label": "positive"}, "latency_ms": 12},
                    {"test_case_id": 18, "output_data": None, "error_message": "timeout"},
                ],
                request_only=True,
                media_type="application/json",
            )
        ],
    ),
)
class RunResponsesView(generics.ListCreateAPIView):
    """Reading needs runs.view_response; writing runs.add_response (the engineer role)."""

    serializer_class = ResponseSerializer
    pagination_class = OldestFirstCursorPage
    parser_classes = [SafeJSONParser, NDJSONParser]
    queryset = Response.objects.all()

    def get_run(self) -> ModelRun:
        return generics.get_object_or_404(ModelRun.objects.all(), pk=self.kwargs["run_id"])

    def get_queryset(self):
        return Response.objects.filter(run_id=self.kwargs["run_id"])

    def list(self, request, *args, **kwargs):
        self.get_run()  # 404 for a run that does not exist, not an empty page
        return super().list(request, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        run = self.get_run()
        data = request.data
        ndjson = request.content_type.split(";")[0].strip() == NDJSON
        if ndjson:
            items = _strip_bom(iter(data))
        elif isinstance(data, list) and data:
            items = data
        else:
            raise serializers.ValidationError(
                {NON_FIELD: ["send a non-empty JSON list of responses (or NDJSON lines)"]}
            )
        try:
            result = ingest_responses(run, items, actor=request.user)
        except IngestError as error:
            if error.conflict:  # well-formed lines naming cases that do not fit this run
                raise Conflict(line_errors(error)) from None
            raise serializers.ValidationError(line_errors(error)) from None
        body = {
            "imported": result.imported,
            "created": result.created,
            "replaced": result.replaced,
            "run": RunSerializer(run, context=self.get_serializer_context()).data,
        }
        return ApiResponse(body, status=status.HTTP_200_OK)


def line_errors(error: IngestError) -> dict[str, list[str]]:
    """Ingestion's errors ({line, field, message}) keyed `<n>.<field>` (line 0: the whole input)."""
    errors: dict[str, list[str]] = {}
    for item in error.errors:
        line, field = item["line"], item["field"]
        key = f"{line}.{field}" if field else (str(line) if line else NON_FIELD)
        errors.setdefault(key, []).append(item["message"])
    if error.more:
        errors.setdefault(NON_FIELD, []).append("more errors follow; fix these first")
    return errors
