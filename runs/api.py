"""/api/v1/runs/ and /api/v1/runs/<id>/responses/: thin views over the runs domain modules.

A run is registered by `runs.selection.register_run` (selection, fixed cases, total, fingerprint)
and responses are stored by `runs.ingestion.ingest_responses` (validation, COPY, upsert), the
same code as the run form, `create_run` and `import_responses`.
"""

import codecs
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.parsers import BaseParser
from rest_framework.response import Response as ApiResponse
from rest_framework.settings import api_settings

from accounts.audit import record
from cases.openapi import SELECTION
from cases.selection import SelectionError
from mleval_site.api import (
    Conflict,
    OldestFirstCursorPage,
    SafeJSONParser,
    check_body_size,
    check_constraint_errors,
)
from mleval_site.api_schema import NO_NUL, json_object
from runs.endpoint_config import CONNECTION_PREFIX, endpoint_errors
from runs.execution import stop
from runs.filters import HEADLINE_ORDERINGS, ModelRunFilterSet
from runs.ingestion import IngestError, ingest_responses
from runs.models import ENDPOINT_PATTERN, ModelRun, Response
from runs.replies import error_for
from runs.selection import NothingSelected, register_run
from versions.models import Version

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


@extend_schema_field(
    {
        "oneOf": [
            {"type": "null"},
            {"type": "string", "pattern": NO_NUL, "description": "written: the version's name"},
            {"type": "integer", "description": "written: the version's id"},
        ],
        "description": "Read as {id, name}. An unknown version is a 404.",
    }
)
class VersionField(serializers.Field):
    """A golden-set version: written as its name or id, read as {"id", "name"} (or null)."""

    def to_internal_value(self, data) -> Version:
        if not isinstance(data, int | str) or isinstance(data, bool):
            raise serializers.ValidationError("give the version's name or id")
        lookup = {"pk": data} if isinstance(data, int) else {"name": data}
        version = Version.objects.filter(**lookup).first()
        if version is None:  # well-formed, but names nothing: like an unknown id in a path
            raise NotFound({"version": [f"There is no golden-set version {data!r}."]})
        return version

    def to_representation(self, version: Version) -> dict:
        return version.as_ref()


@extend_schema_field(SELECTION)
class SelectionField(serializers.DictField):
    """The case filters a run selects by (validated by cases.selection.select_cases)."""


@extend_schema_field(json_object(description="Settings for the run (a JSON object)."))
class ConfigField(serializers.JSONField):
    pass


@extend_schema_field({"anyOf": [{"const": ""}, {"type": "string", "pattern": ENDPOINT_PATTERN}]})
class EndpointField(serializers.CharField):
    pass


class RunSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    selection = SelectionField(required=False)
    config = ConfigField(required=False)
    model_endpoint = EndpointField(required=False, allow_blank=True)
    version = VersionField(
        required=False,
        allow_null=True,
        help_text="A golden-set version (its name or id) to run on instead of a selection: the "
        "run's cases and their contents are the version's. Fixed when the run is registered.",
    )

    class Meta:
        model = ModelRun
        fields = (
            "id",
            "model_name",
            "model_version",
            "model_type",
            "model_endpoint",
            "config",
            "selection",
            "version",
            "status",
            "started_at",
            "completed_at",
            "total_cases",
            "completed_cases",
            "failed_cases",
            "selection_fingerprint",
            "created_by",
            "created_at",
        )
        read_only_fields = (
            "status",
            "started_at",
            "completed_at",
            "total_cases",
            "completed_cases",
            "failed_cases",
            "selection_fingerprint",
            "created_at",
        )

    def to_representation(self, run: ModelRun) -> dict:
        data = super().to_representation(run)
        data["selection"] = (run.config or {}).get("selection") or {}
        return data

    def validate(self, attrs: dict) -> dict:
        for fixed in ("selection", "version"):
            if self.instance is not None and fixed in attrs:
                raise serializers.ValidationError(
                    {fixed: ["fixed when the run is registered; register a new run instead"]}
                )
        if attrs.get("version") is not None and attrs.get("selection"):
            raise serializers.ValidationError(
                {"version": ["a run is on a version or on a selection, not both"]}
            )
        if "config" in attrs and not isinstance(attrs["config"], dict):
            raise serializers.ValidationError({"config": ["must be a JSON object"]})
        fields = {k: v for k, v in attrs.items() if k not in ("selection", "version")}
        candidate = ModelRun(**{**self._stored_fields(), **fields})
        if errors := check_constraint_errors(candidate):
            raise serializers.ValidationError(errors)
        if errors := endpoint_errors(
            candidate.model_endpoint, candidate.config, candidate.model_name
        ):
            raise serializers.ValidationError(errors)
        if self.instance is not None and candidate.model_endpoint.startswith(CONNECTION_PREFIX):
            raise serializers.ValidationError(
                {
                    "model_endpoint": [
                        "a saved connection is copied into a run when it is "
                        "registered; register a new run from it instead"
                    ]
                }
            )
        return attrs

    def _stored_fields(self) -> dict:
        if self.instance is None:
            return {}
        return {
            name: getattr(self.instance, name)
            for name in ("model_name", "model_version", "model_type", "model_endpoint", "config")
        }

    def create(self, validated_data: dict) -> ModelRun:
        try:
            return register_run(
                model_name=validated_data["model_name"],
                model_version=validated_data["model_version"],
                model_type=validated_data["model_type"],
                model_endpoint=validated_data.get("model_endpoint", ""),
                config=validated_data.get("config"),
                selection=validated_data.get("selection"),
                version=validated_data.get("version"),
                created_by=self.context["request"].user,
            )
        except NothingSelected as error:  # well-formed, but today no case matches it
            raise Conflict({"selection": error.errors["selection"]}) from None
        except SelectionError as error:  # a filter of the selection
            raise serializers.ValidationError(
                {
                    name if name == "selection" else f"selection.{name}": messages
                    for name, messages in error.errors.items()
                }
            ) from None
        except DjangoValidationError as error:  # the endpoint or config (ModelRun.clean)
            raise serializers.ValidationError(error.message_dict) from None

    def update(self, run: ModelRun, validated_data: dict) -> ModelRun:
        if "config" in validated_data:  # the selection stays what the run was registered with
            validated_data["config"] = {**validated_data["config"], "selection": run.selection}
        for name, value in validated_data.items():
            setattr(run, name, value)
        run.full_clean(exclude=["created_at"])
        with transaction.atomic():
            run.save(update_fields=list(validated_data))
            user = self.context["request"].user
            record(user, "run.update", run, fields=sorted(validated_data), via="api")
        return run


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


class ResponseInSerializer(serializers.Serializer):
    """One response line (INTERFACES.md); documentation only: ingestion checks it."""

    test_case_id = serializers.IntegerField(
        min_value=1, required=False, help_text="The case's id; or give external_id instead."
    )
    external_id = serializers.CharField(
        required=False, help_text="The case's external_id, instead of test_case_id."
    )
    output_data = serializers.JSONField(allow_null=True, help_text="Any JSON value, null too.")
    latency_ms = serializers.FloatField(
        min_value=0, required=False, allow_null=True, help_text="Milliseconds; decimals kept."
    )
    memory_mb = serializers.FloatField(min_value=0, required=False, allow_null=True)
    tokens_used = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    error_message = serializers.CharField(required=False, allow_null=True, allow_blank=True)


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
    list=extend_schema(
        summary="List runs",
        description="The runs page's filters; newest first unless `ordering` says otherwise "
        "(e.g. `-completed`); cursor-paginated.",
    ),
    create=extend_schema(
        summary="Register a run",
        description="Registers a run over its `selection` (default: the golden set of its "
        "model_type), fixing the selected cases and `total_cases`, as the run form does.",
        responses={201: RunSerializer},
    ),
    destroy=extend_schema(
        description="Deletes the run with its responses and their evaluations; an active run is "
        "cancelled first (409 while its executors are still stopping).",
        responses={204: OpenApiResponse(description="Deleted.")},
    ),
)
class RunViewSet(viewsets.ModelViewSet):
    queryset = ModelRun.objects.select_related("created_by", "version")
    serializer_class = RunSerializer
    filterset_class = ModelRunFilterSet
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {"cancel": ["runs.change_modelrun"]}

    def page_ordering(self) -> tuple[str, ...]:
        """The page's `ordering` (e.g. `-completed,model`; validated by the FilterSet), then id."""
        names = ModelRunFilterSet.base_filters["ordering"].param_map
        fields = []
        for term in self.request.query_params.get("ordering", "").split(","):
            name = term.strip().lstrip("-")
            # The page's summary columns (nullable annotations) cannot position a cursor.
            if name in names and name not in HEADLINE_ORDERINGS:
                fields.append(("-" if term.strip().startswith("-") else "") + names[name])
        if not fields:
            return ("-id",)
        return (*fields, "-id" if fields[0].startswith("-") else "id")

    @extend_schema(
        request=None,
        responses={200: RunSerializer},
        description="Stops a pending or running run (responses stored so far are kept); 409 "
        "when it has already finished.",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        run = self.get_object()
        with transaction.atomic():
            cancelled = run.cancel()
            if cancelled:
                record(request.user, "run.cancel", run, via="api")
        if not cancelled:
            raise Conflict(
                f"Run {run.pk} is already {run.status}: only active runs can be stopped."
            )
        return ApiResponse(self.get_serializer(run).data)

    def perform_destroy(self, run: ModelRun) -> None:
        if not stop(run):  # like the run page: no executor may write into a deleted run
            raise Conflict(f"Run {run.pk} is still stopping: delete it again in a moment.")
        with transaction.atomic():
            record(self.request.user, "run.delete", run, model=str(run), via="api")
            run.delete()


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
            "application/json": ResponseInSerializer(many=True),
            NDJSON: OpenApiTypes.STR,
        },
        responses={200: IngestResultSerializer},
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
            raise IngestValidationError(error) from None
        body = {
            "imported": result.imported,
            "created": result.created,
            "replaced": result.replaced,
            "run": RunSerializer(run, context=self.get_serializer_context()).data,
        }
        return ApiResponse(body, status=status.HTTP_200_OK)


class IngestValidationError(serializers.ValidationError):
    """Ingestion's errors ({line, field, message}) keyed `<n>.<field>` (line 0: the whole input)."""

    def __init__(self, error: IngestError) -> None:
        errors: dict[str, list[str]] = {}
        for item in error.errors:
            line, field = item["line"], item["field"]
            key = f"{line}.{field}" if field else (str(line) if line else NON_FIELD)
            errors.setdefault(key, []).append(item["message"])
        if error.more:
            errors.setdefault(NON_FIELD, []).append("more errors follow; fix these first")
        super().__init__(errors)
