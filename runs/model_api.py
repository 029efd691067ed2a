"""/api/v1/runs/<id>/baseline/ (read, mark or unmark a run as its model's baseline) and
/api/v1/lineage/ (a model's lineage; record a version's parent).

The model page's buttons and ``manage.py mark_baseline`` as an API (runs.baselines does the
work), so a release job can promote the run it just gated: GET is for every role, POST and
DELETE need ``runs.mark_baseline`` (a lead). Recording lineage is an engineer's
(``runs.add_modelversion``).
"""

from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as ApiResponse

from mleval_site.api import Conflict, RolePermissions, StrictCharField
from mleval_site.api_schema import ERROR_SCHEMA, nullable, register
from runs import baselines
from runs.lineage import LineageKind, ModelVersion
from runs.models import ModelRun


class BaselineRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    baseline_since = serializers.DateTimeField()


class BaselineSerializer(serializers.Serializer):
    run = serializers.IntegerField(help_text="The run asked about.")
    is_baseline = serializers.BooleanField(help_text="Always true: a run that is not one is a 404.")
    baseline_since = serializers.DateTimeField()
    baseline = BaselineRunSerializer(
        allow_null=True,
        help_text="Always null here (the run is the baseline); kept for older clients.",
    )
    replaced = serializers.IntegerField(
        allow_null=True, required=False, help_text="POST: the run that was the baseline."
    )


NOT_BASELINE = register(
    "NotBaseline",
    {
        **ERROR_SCHEMA,
        "properties": {
            **ERROR_SCHEMA["properties"],
            "baseline": nullable(
                {
                    "$ref": "#/components/schemas/BaselineRun",
                    "description": "Its model's baseline on its cases, when another run is "
                    "(a run that is not a baseline).",
                }
            ),
        },
        # Absent from the other 404s (no such run, no such path).
    },
)


class BaselinePermission(RolePermissions):
    """Reading is viewing runs; marking and unmarking is a lead's (runs.mark_baseline)."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in ("POST", "DELETE"):
            return request.user.has_perm(baselines.PERMISSION)
        return request.user.has_perm("runs.view_modelrun")


def _ref(run: ModelRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "model_name": run.model_name,
        "model_version": run.model_version,
        "baseline_since": run.baseline_since,
    }


class RunBaselineView(GenericAPIView):
    """The run's baseline mark as a sub-resource: it exists while the run is its model's
    baseline on its cases. POST creates it, DELETE removes it (204), and GET answers 404 once
    it is gone, like any deleted resource; that 404 still names the run that is the baseline
    on those cases, if another one is."""

    queryset = ModelRun.objects.all()
    permission_classes = [BaselinePermission]
    pagination_class = None
    filter_backends: list = []
    serializer_class = BaselineSerializer

    def body(self, run: ModelRun, **extra) -> ApiResponse:
        return ApiResponse(
            {
                "run": run.pk,
                "is_baseline": True,
                "baseline_since": run.baseline_since,
                "baseline": None,
                **extra,
            }
        )

    @staticmethod
    def not_baseline(run: ModelRun) -> ApiResponse:
        current = baselines.baseline_for(run)
        where = f"run {current.pk} is" if current else "no run is"
        message = f"Run {run.pk} is not a baseline ({where} its model's baseline on its cases)."
        return ApiResponse(
            {"detail": message, "errors": {"run": [message]}, "baseline": _ref(current)},
            status=404,
        )

    @extend_schema(
        summary="The run's baseline mark",
        description="200 while the run is its model's baseline on its cases; 404 when it is "
        "not (after DELETE too), the body naming the run that is, if any (`baseline`).",
        responses={200: BaselineSerializer, 404: OpenApiResponse(NOT_BASELINE, "Not a baseline")},
    )
    def get(self, request, run_id: int):
        run = get_object_or_404(ModelRun, pk=run_id)
        return self.body(run) if run.baseline_since else self.not_baseline(run)

    @extend_schema(
        summary="Mark the run its model's baseline on its cases",
        description="Replaces the model's baseline on the same golden-set version (or case "
        "set); `replaced` names the run that was. 409 when the run cannot be one (not "
        "completed, or no fixed case set). A lead's (runs.mark_baseline).",
        request=None,
    )
    def post(self, request, run_id: int):
        run = get_object_or_404(ModelRun, pk=run_id)
        try:
            previous = baselines.mark(run, request.user, via="api")
        except ValidationError as error:
            raise Conflict({"run": error.messages}) from None
        return self.body(run, replaced=previous.pk if previous else None)

    @extend_schema(
        summary="Stop the run being a baseline",
        description="204; 404 when the run is not a baseline (the body as GET's 404).",
        request=None,
        responses={
            204: OpenApiResponse(description="Unmarked: GET now answers 404."),
            404: OpenApiResponse(NOT_BASELINE, "Not a baseline"),
        },
    )
    def delete(self, request, run_id: int):
        run = get_object_or_404(ModelRun, pk=run_id)
        if not baselines.unmark(run, request.user, via="api"):
            return self.not_baseline(run)
        return ApiResponse(status=204)


class ParentSerializer(serializers.Serializer):
    model_name = StrictCharField(trim_whitespace=False, max_length=255)
    model_version = StrictCharField(trim_whitespace=False, max_length=100)


class LineageSerializer(serializers.Serializer):
    """A version and its parent (null: none; a kind without a parent is ignored); a cycle is
    a 409 naming the parent."""

    model_name = StrictCharField(trim_whitespace=False, max_length=255)
    model_version = StrictCharField(trim_whitespace=False, max_length=100)
    parent = ParentSerializer(allow_null=True, required=False, default=None)
    kind = serializers.ChoiceField(
        LineageKind.choices,
        required=False,
        default=LineageKind.DERIVED,
        help_text="How the version came from its parent (default: derived).",
    )
    note = StrictCharField(
        trim_whitespace=False, max_length=500, required=False, allow_blank=True, default=""
    )


class LineageRowSerializer(serializers.Serializer):
    """A recorded version as answered: kind "" when it has no parent."""

    model_name = serializers.CharField()
    model_version = serializers.CharField()
    parent = ParentSerializer(allow_null=True)
    kind = serializers.ChoiceField(LineageKind.choices, allow_blank=True)
    note = serializers.CharField(allow_blank=True)


def lineage_row(row: ModelVersion, by_id: dict[int, ModelVersion]) -> dict:
    parent = by_id.get(row.parent_id)
    return {
        "model_name": row.model_name,
        "model_version": row.model_version,
        "parent": (
            {"model_name": parent.model_name, "model_version": parent.model_version}
            if parent
            else None
        ),
        "kind": row.parent_kind,
        "note": row.note,
    }


class LineageView(GenericAPIView):
    """GET ?model_name=: the model's lineage family; POST: record a version's parent."""

    queryset = ModelVersion.objects.all()
    permission_classes = [RolePermissions]
    pagination_class = None
    filter_backends: list = []
    serializer_class = LineageSerializer

    @extend_schema(
        summary="A model's lineage",
        description="Every version linked to the model's versions by lineage (their ancestors, "
        "descendants and relatives, up to 200), each with its parent.",
        parameters=[
            OpenApiParameter(
                "model_name",
                {"type": "string", "minLength": 1, "maxLength": 255},
                required=True,
                description="A model name.",
            )
        ],
        responses={200: LineageRowSerializer(many=True)},
    )
    def get(self, request):
        name = LineageQuery(request.query_params)
        if not name.is_valid():
            raise serializers.ValidationError(dict(name.errors))
        family = ModelVersion.family(name.cleaned_data["model_name"])
        by_id = {row.pk: row for row in family}
        return ApiResponse([lineage_row(row, by_id) for row in family])

    @extend_schema(
        summary="Record a version's parent",
        description="Creates the rows named (a parent may be a model mleval never ran); "
        "`parent` null forgets it. 409 when the parent is the version or descends from it "
        "(lineage has no cycle).",
        responses={200: LineageRowSerializer},
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        parent = data["parent"]
        try:
            row = ModelVersion.record(
                data["model_name"], data["model_version"],
                (parent["model_name"], parent["model_version"]) if parent else None,
                data["kind"], note=data["note"], user=request.user,
            )  # fmt: skip
        except ValidationError as error:  # only a cycle is left to refuse (the parent's)
            raise Conflict({"parent": error.messages}) from None
        row = ModelVersion.objects.select_related("parent").get(pk=row.pk)
        return ApiResponse(lineage_row(row, {row.parent_id: row.parent} if row.parent else {}))


class LineageQuery(forms.Form):
    model_name = forms.CharField(max_length=255, strip=False)
