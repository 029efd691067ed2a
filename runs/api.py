"""/api/v1/runs/: thin views over the runs domain modules (a run's responses: runs.response_api).

A run is registered by `runs.selection.register_run` (selection, fixed cases, total, fingerprint),
the same code as the run form and `create_run`.
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response as ApiResponse

from accounts.audit import record
from cases.openapi import SELECTION
from cases.selection import SelectionError
from mleval_site.api import (
    Conflict,
    StrictCharField,
    StrictModelSerializer,
    check_constraint_errors,
)
from mleval_site.api_schema import NO_NUL, json_object, read_as
from runs.connections import UnknownConnection
from runs.endpoint_config import CONNECTION_PREFIX, endpoint_errors
from runs.endpoint_grammar import endpoint_pattern
from runs.filters import HEADLINE_ORDERINGS, ModelRunFilterSet
from runs.models import ModelRun
from runs.run_locks import stop
from runs.selection import NothingSelected, register_run
from versions.models import Version


@extend_schema_field(
    read_as(
        {
            "anyOf": [  # null: added by drf-spectacular for allow_null
                {"type": "string", "pattern": NO_NUL, "description": "the version's name"},
                {"type": "integer", "description": "the version's id"},
            ],
            "description": "Written as its name or id, read as {id, name}. An unknown version "
            "is a 404.",
        },
        {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
            "required": ["id", "name"],
            "additionalProperties": False,
        },
    )
)
class VersionField(serializers.Field):
    """A golden-set version: written as its name or id, read as {"id", "name"} (or null)."""

    def to_internal_value(self, data) -> Version:
        if isinstance(data, float) and data.is_integer():  # JSON Schema's integer: 7.0 is one
            data = int(data)
        if not isinstance(data, int | str) or isinstance(data, bool):
            raise serializers.ValidationError("give the version's name or id")
        lookup = {"pk": data} if isinstance(data, int) else {"name": data}
        version = Version.objects.filter(**lookup).first()
        if version is None:  # well-formed, but names nothing: like an unknown id in a path
            raise NotFound({"version": [f"There is no golden-set version {data!r}."]})
        return version

    def to_representation(self, version: Version) -> dict:
        return version.as_ref()


# Read back, a run on a golden-set version says {"version": its name} (runs.selection).
VERSION_SELECTION = {
    "type": "object",
    "properties": {"version": {"type": "string"}},
    "required": ["version"],
    "additionalProperties": False,
}


@extend_schema_field(read_as(SELECTION, {"anyOf": [SELECTION, VERSION_SELECTION]}))
class SelectionField(serializers.DictField):
    """The case filters a run selects by (validated by cases.selection.select_cases)."""


@extend_schema_field(json_object(description="Settings for the run (a JSON object)."))
class ConfigField(serializers.JSONField):
    pass


def endpoint_schema(*, connection: bool) -> dict:
    """What the validators accept as a run's endpoint: the table's pattern, `python:` only for
    MLEVAL_PYTHON_ENDPOINT_MODULES, `connection:NAME` only when registering."""
    pattern = endpoint_pattern(
        modules=list(settings.MLEVAL_PYTHON_ENDPOINT_MODULES), connection=connection
    )
    return {"anyOf": [{"const": ""}, {"type": "string", "pattern": pattern}]}


@extend_schema_field(endpoint_schema(connection=True))
class EndpointField(StrictCharField):
    """As written: no trimming (the schema's pattern has no spaces)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(trim_whitespace=False, **kwargs)


@extend_schema_field(endpoint_schema(connection=False))
class ChangedEndpointField(EndpointField):
    """A registered run's endpoint: a saved connection is copied in only at registration."""


class RunSerializer(StrictModelSerializer):
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
            if self.instance is not None and fixed in attrs:  # the run's state: 409
                raise Conflict(
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
        except UnknownConnection as error:  # well-formed, but names nothing: like a version
            raise NotFound(error.message_dict) from None
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


class RunChangeSerializer(RunSerializer):
    """PATCH's request schema: no `connection:NAME` endpoint (validate() refuses it there)."""

    model_endpoint = ChangedEndpointField(required=False, allow_blank=True)


@extend_schema_view(
    partial_update=extend_schema(request=RunChangeSerializer, responses={200: RunSerializer}),
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
