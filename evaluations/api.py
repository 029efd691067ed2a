"""/api/v1/: scoring and executing a run, the run report and the comparison (a queued task's
status is jobs.api.TaskView's).

The views only call the domain modules: `evaluations.tasks.enqueue_evaluation` (the run page's
button), `runs.tasks.enqueue_execution`, and `evaluations.reports` (`build_run_report`,
`compare_runs`, the figures behind the report pages and `run_report` / `compare_runs`).
"""

import dataclasses

from django import forms
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as ApiResponse

from evaluations.evaluators import EvaluatorConfigError, EvaluatorConflict, installed_evaluators
from evaluations.evaluators.params_schema import evaluator_spec_schema
from evaluations.filters import MAX_ID, RunPairForm
from evaluations.models import Evaluation
from evaluations.pipeline import resolve_evaluators
from evaluations.summaries import comparison, run_report
from evaluations.tasks import enqueue_evaluation
from mleval_site.api import Conflict
from mleval_site.api_schema import closed
from runs.callers import ExecutionError, ExecutionOptions
from runs.models import ModelRun, Response
from runs.tasks import enqueue_execution

DEFAULT_CASE_LIMIT = 1000
MAX_CASE_LIMIT = 100_000
RUN_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}  # as RunIdField checks it


def task_url(request, task_id: str) -> str:
    return request.build_absolute_uri(f"/api/v1/tasks/{task_id}/")


@extend_schema_field(evaluator_spec_schema(installed_evaluators()))
class EvaluatorSpecField(serializers.JSONField):
    """One evaluator: a name, or {"name", "params"} with that evaluator's parameters (the
    schema is generated from the registry's Param specs; resolve_evaluators checks it)."""


class EvaluateSerializer(serializers.Serializer):
    evaluators = serializers.ListField(
        child=EvaluatorSpecField(),
        required=False,
        help_text='[{"name": ..., "params": {...}}] or names. Empty or absent: the run '
        "config's evaluators, else the default of each output type. (`NAME:JSON` strings are "
        "read too, as by `evaluate_run --evaluator`; the schema states the objects.)",
    )

    def validate(self, attrs: dict) -> dict:
        """A key it does not know is refused, not ignored (the schema's additionalProperties)."""
        body = self.initial_data if isinstance(self.initial_data, dict) else {}
        if unknown := sorted(set(body) - set(self.fields)):
            message = "unknown field; the body has evaluators only"
            raise serializers.ValidationError({name: [message] for name in unknown})
        return attrs


closed("EvaluateRequest")  # its request component: an unknown key is a 400


QueuedSerializer = inline_serializer(
    "QueuedTask",
    {
        "task_id": serializers.CharField(),
        "status": serializers.CharField(),
        "url": serializers.URLField(),
        "job_id": serializers.IntegerField(required=False),
        "evaluators": serializers.ListField(child=serializers.DictField(), required=False),
    },
)

_NULLABLE_BLOCK = {"allow_null": True, "help_text": "null when no case of that kind was scored."}
_TRUST = serializers.DictField(
    child=serializers.DictField(),
    help_text="Per automatic evaluator: `status` (trusted, untrusted, unmeasured: its "
    "agreement with people), `reason`, and the `kappa`, `kappa_low` (95% lower bound) and "
    "`n` (graded responses) it rests on; {} when grading is not installed.",
)
ReportSerializer = inline_serializer(
    "RunReport",
    {
        "run": serializers.DictField(),
        "cases": serializers.DictField(),
        "evaluators": serializers.DictField(child=serializers.DictField()),
        "latency_ms": serializers.DictField(),
        "tokens": serializers.DictField(),
        "memory_mb": serializers.DictField(),
        "errors": serializers.IntegerField(),
        "breakdowns": serializers.DictField(
            child=serializers.ListField(child=serializers.DictField())
        ),
        "classification": serializers.DictField(**_NULLABLE_BLOCK),
        "detection": serializers.DictField(**_NULLABLE_BLOCK),
        "ranking": serializers.DictField(**_NULLABLE_BLOCK),
        "forecast": serializers.DictField(**_NULLABLE_BLOCK),
        "regression": serializers.DictField(**_NULLABLE_BLOCK),
        "multilabel": serializers.DictField(**_NULLABLE_BLOCK),
        "trust": _TRUST,
    },
)

ComparisonSerializer = inline_serializer(
    "Comparison",
    {
        "a": serializers.DictField(),
        "b": serializers.DictField(),
        "selections_differ": serializers.BooleanField(),
        "evaluators": serializers.DictField(child=serializers.DictField()),
        "slices": serializers.ListField(child=serializers.DictField()),
        "cases": serializers.ListField(child=serializers.DictField()),
        "trust": _TRUST,
        "untrusted_significant_changes": serializers.ListField(
            child=serializers.DictField(),
            help_text="Significant pass-rate changes (McNemar p < 0.05) resting on an "
            "untrusted or unmeasured judge: `evaluator`, `change`, `mcnemar_p`, `trust`, "
            "`message`.",
        ),
        "auc": serializers.DictField(
            allow_null=True,
            help_text="ROC AUC of both runs and DeLong's test of the difference; null unless "
            "both scored two labels with probabilities.",
        ),
    },
)


class RunActionView(GenericAPIView):
    """A POST or GET on /runs/<run_id>/...; `permission_model` says which role may call it."""

    queryset = ModelRun.objects.all()
    lookup_url_kwarg = "run_id"
    pagination_class = None
    filter_backends: list = []

    def get_run(self) -> ModelRun:
        return get_object_or_404(ModelRun, pk=self.kwargs["run_id"])


class EvaluateView(RunActionView):
    """Scoring writes evaluations: the engineer role (evaluations.add_evaluation)."""

    permission_model = Evaluation
    serializer_class = EvaluateSerializer

    @extend_schema(
        summary="Score a run in the background",
        description="Validates the evaluators (400 naming the one at fault), queues the scoring "
        "and answers at once with the task to poll at `tasks/<task_id>/`. Scoring again "
        "replaces the run's verdicts.",
        request=EvaluateSerializer,
        responses={202: QueuedSerializer},
    )
    def post(self, request, run_id: int):
        run = self.get_run()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        specs = serializer.validated_data.get("evaluators") or None
        errors, conflicts = {}, 0
        for index, spec in enumerate(specs or []):
            try:
                resolve_evaluators(run, [spec])
            except EvaluatorConfigError as error:
                errors[f"evaluators.{index}"] = [str(error).removeprefix("evaluator: ")]
                conflicts += isinstance(error, EvaluatorConflict)
        if errors:  # the data's refusals alone (a judge's connection not there): a 409
            raise (Conflict if conflicts == len(errors) else serializers.ValidationError)(errors)
        try:
            job = enqueue_evaluation(run, specs, request.user)
        except EvaluatorConflict as error:  # one evaluator named twice
            raise Conflict({"evaluators": [str(error)]}) from None
        except EvaluatorConfigError as error:
            raise serializers.ValidationError({"evaluators": [str(error)]}) from None
        body = {
            "task_id": job.task_id,
            "status": "queued",
            "url": task_url(request, job.task_id),
            "job_id": job.pk,
            "evaluators": job.params["evaluators"],
        }
        return ApiResponse(body, status=status.HTTP_202_ACCEPTED)


class ExecuteSerializer(serializers.Serializer):
    concurrency = serializers.IntegerField(min_value=1, max_value=1024, required=False)
    timeout = serializers.FloatField(min_value=0.001, max_value=3600, required=False)
    retries = serializers.IntegerField(min_value=0, max_value=20, required=False)


class ExecuteView(RunActionView):
    """Executing writes responses: the engineer role (runs.add_response)."""

    permission_model = Response
    serializer_class = ExecuteSerializer

    @extend_schema(
        summary="Execute a run in the background",
        description="Calls the run's endpoint for every case without a response yet (so it also "
        "resumes a stopped run), like `execute_run`. 400 when the run cannot be executed (no "
        "endpoint, or a module that is not allowed).",
        request=ExecuteSerializer,
        responses={202: QueuedSerializer},
    )
    def post(self, request, run_id: int):
        run = self.get_run()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        options = dataclasses.replace(ExecutionOptions(), **serializer.validated_data)
        try:
            result = enqueue_execution(run, options, user=request.user)
        except ExecutionError as error:  # the run's state (no endpoint), not the request: 409
            raise Conflict({"model_endpoint": [str(error)]}) from None
        task_id = str(result.id)
        body = {"task_id": task_id, "status": "queued", "url": task_url(request, task_id)}
        return ApiResponse(body, status=status.HTTP_202_ACCEPTED)


class ReportView(RunActionView):
    permission_model = Evaluation

    @extend_schema(
        summary="The run report",
        description="The JSON of `run_report` (INTERFACES.md, Run report JSON).",
        responses={200: ReportSerializer},
    )
    def get(self, request, run_id: int):
        return ApiResponse(run_report(self.get_run()))


class CompareView(GenericAPIView):
    permission_model = Evaluation
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        summary="Compare two runs",
        description="The JSON of `compare_runs` (INTERFACES.md, Comparison JSON). `cases` lists "
        "the paired verdicts, regressions first, at most `case_limit` of them.",
        parameters=[
            OpenApiParameter("a", RUN_ID, required=True, description="Run A (the baseline)."),
            OpenApiParameter("b", RUN_ID, required=True, description="Run B (the candidate)."),
            OpenApiParameter(
                "case_limit",
                {"type": "integer", "minimum": 0, "maximum": MAX_CASE_LIMIT},
                description=f"Most case pairs listed (default {DEFAULT_CASE_LIMIT}, at most "
                f"{MAX_CASE_LIMIT}; 0 lists none).",
            ),
        ],
        responses={200: ComparisonSerializer},
    )
    def get(self, request):
        params = CompareParams(request.query_params)
        if not params.is_valid():
            if params.only_missing_runs():
                raise Http404("No run matches the given query.")
            raise serializers.ValidationError(
                {name: list(messages) for name, messages in params.errors.items()}
            )
        limit = params.cleaned_data["case_limit"]
        return ApiResponse(comparison(*params.runs(), case_limit=limit))


class CompareParams(RunPairForm):
    """The page's ``a`` and ``b`` (evaluations.filters), and how many case pairs to list."""

    case_limit = forms.IntegerField(min_value=0, max_value=MAX_CASE_LIMIT, required=False)

    def clean_case_limit(self) -> int:
        limit = self.cleaned_data["case_limit"]
        return DEFAULT_CASE_LIMIT if limit is None else limit
