"""/api/v1/gate/: the CI gate's verdict on a candidate run against its baseline, computed by
evaluations.gate (the same verdict as `compare_runs --fail-on regression` and `mleval gate`)."""

from django import forms
from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as ApiResponse

from evaluations.gate import GateError, GateNotFound, gate, resolve_run
from evaluations.models import Evaluation
from mleval_site.api import NON_FIELD
from mleval_site.api_schema import NO_NUL

# What the gate's parameters accept, stated once for the form and the schema.
RUN_ID = r"[0-9]{1,18}"
CANDIDATE_PATTERN = f"^{RUN_ID}$"
BASELINE_PATTERN = rf"^(?:{RUN_ID}|(?:latest|baseline)(?::[^\x00]*)?)$"


def _open_unit_interval(value: float) -> None:
    if not 0 < value < 1:
        raise forms.ValidationError("must be between 0 and 1 (both excluded)")


def _below_one(value: float) -> None:
    if not 0 <= value < 1:
        raise forms.ValidationError("must be at least 0 and below 1")


class GateParams(forms.Form):
    """Unstripped, so a value means what the schema says it means."""

    baseline = forms.CharField(
        max_length=300, strip=False, validators=[RegexValidator(BASELINE_PATTERN)]
    )
    candidate = forms.CharField(strip=False, validators=[RegexValidator(CANDIDATE_PATTERN)])
    alpha = forms.FloatField(required=False, validators=[_open_unit_interval])
    min_delta = forms.FloatField(required=False, validators=[_below_one])
    evaluator = forms.CharField(required=False, max_length=100, strip=False)


def _or_empty(schema: dict) -> dict:
    """An optional query parameter may also be sent empty: the default."""
    return {"anyOf": [schema, {"const": ""}]}


GateSerializer = inline_serializer(
    "GateVerdict",
    {
        "status": serializers.ChoiceField(["passed", "regression", "nothing_to_compare"]),
        "exit_code": serializers.IntegerField(help_text="0, 1 or 2, as compare_runs exits."),
        "message": serializers.CharField(),
        "baseline": serializers.DictField(allow_null=True),
        "candidate": serializers.DictField(allow_null=True),
        "alpha": serializers.FloatField(),
        "min_delta": serializers.FloatField(),
        "checks": serializers.ListField(child=serializers.DictField()),
        "summary": serializers.CharField(help_text="Plain text for a CI log."),
        "junit": serializers.CharField(help_text="JUnit XML, one testcase per check."),
        "markdown": serializers.CharField(help_text="A pull-request comment."),
    },
)


class GateView(GenericAPIView):
    """The CI gate's verdict (evaluations.gate), so `mleval gate` never recomputes it."""

    permission_model = Evaluation
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        summary="Gate a candidate run on its baseline",
        description="`compare_runs A B --fail-on regression` as JSON: `exit_code` 0 no "
        "significant regression, 1 a significant regression (overall: McNemar p < alpha; "
        "slice: Holm-adjusted p < alpha; both with a pass-rate drop beyond min_delta), 2 "
        "nothing to compare. 404 for a run or evaluator that is not there.",
        parameters=[
            OpenApiParameter(
                "baseline",
                {"type": "string", "maxLength": 300, "pattern": BASELINE_PATTERN},
                required=True,
                description="A run id, baseline:<model name> (the run marked that model's "
                "baseline on the candidate's cases) or latest:<model name> (its newest completed "
                "run on them); baseline or latest alone: the candidate's own model. 404 when "
                "there is no such run.",
            ),
            OpenApiParameter(
                "candidate",
                {"type": "string", "pattern": CANDIDATE_PATTERN},
                required=True,
                description="A run id (404 when there is no such run).",
            ),
            OpenApiParameter(
                "alpha",
                _or_empty({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
                description="Significance level (0.05).",
            ),
            OpenApiParameter(
                "min_delta",
                _or_empty({"type": "number", "minimum": 0, "exclusiveMaximum": 1}),
                description="Pass-rate drop ignored (0).",
            ),
            OpenApiParameter(
                "evaluator",
                {"type": "string", "maxLength": 100, "pattern": NO_NUL},
                description="Gate on this evaluator only (404 when it scored neither run).",
            ),
        ],
        responses={200: GateSerializer},
    )
    def get(self, request):
        params = GateParams(request.query_params)
        if not params.is_valid():
            raise serializers.ValidationError(
                {name: list(messages) for name, messages in params.errors.items()}
            )
        data = params.cleaned_data
        try:
            candidate = resolve_run(data["candidate"], flag="candidate")
            baseline = resolve_run(data["baseline"], candidate, flag="baseline")
            verdict = gate(
                baseline,
                candidate,
                alpha=0.05 if data["alpha"] is None else data["alpha"],
                min_delta=data["min_delta"] or 0.0,
                evaluator=data["evaluator"] or None,
            )
        except GateNotFound as error:
            raise NotFound({NON_FIELD: [str(error)]}) from None
        except GateError as error:
            raise serializers.ValidationError({NON_FIELD: [str(error)]}) from None
        return ApiResponse(verdict.as_json())
