"""/api/v1/grading/: tasks (list, create, read, more graders) and an evaluator's agreement
with people. What graders do (their assignments, grading, flagging) is grading.grader_api.

The views call the domain modules only: grading.assigning, grading.figures, grading.queue.
"""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as ApiResponse

from grading import figures, queue
from grading.assigning import SLICES, SampleError, create_task, raise_overlap
from grading.models import GradingTask, Scale
from grading.verdicts import task_verdicts
from mleval_site.api import Conflict, StrictCharField
from mleval_site.api_schema import NO_NUL
from runs.models import ModelRun

MAX_ID = 2**63 - 1
EVALUATOR_PARAMETER = OpenApiParameter(
    "evaluator",
    {"type": "string", "pattern": NO_NUL, "minLength": 1, "maxLength": 100},
    OpenApiParameter.PATH,
    description="An evaluator_type, e.g. llm_judge.",
)


def task_json(task: GradingTask) -> dict:
    return {
        "id": task.pk,
        "run": task.run_id,
        "name": task.name,
        "instructions": task.instructions,
        "scale": task.scale,
        "overlap": task.overlap,
        "sample": task.sample,
        "created_by": task.created_by.get_username() if task.created_by else None,
        "created_at": task.created_at,
        "items": task.item_count,
        "grades": {"given": task.graded_count, "expected": task.assignment_count},
    }


class TaskCreateSerializer(serializers.Serializer):
    run = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    name = StrictCharField(max_length=200)
    graders = serializers.ListField(
        child=StrictCharField(max_length=150), min_length=1, help_text="Usernames."
    )
    overlap = serializers.IntegerField(min_value=1, max_value=20, default=2)
    scale = serializers.ChoiceField(choices=Scale.values, default=Scale.PASS_FAIL)
    instructions = StrictCharField(allow_blank=True, default="", max_length=20_000)
    n = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    evaluator = StrictCharField(allow_blank=True, default="", max_length=100)
    slice = serializers.ChoiceField(choices=["", *SLICES], default="")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)


TaskSerializer = inline_serializer(
    "GradingTask",
    {
        "id": serializers.IntegerField(),
        "run": serializers.IntegerField(),
        "name": serializers.CharField(),
        "instructions": serializers.CharField(),
        "scale": serializers.ChoiceField(choices=Scale.values),
        "overlap": serializers.IntegerField(),
        "sample": serializers.DictField(),
        "created_by": serializers.CharField(allow_null=True),
        "created_at": serializers.DateTimeField(),
        "items": serializers.IntegerField(),
        "grades": serializers.DictField(child=serializers.IntegerField()),
    },
)


class TaskListView(GenericAPIView):
    """Engineers create tasks (grading.add_gradingtask); every role reads them."""

    permission_model = GradingTask
    pagination_class = None
    filter_backends: list = []
    serializer_class = TaskCreateSerializer
    listed = 200

    @extend_schema(
        operation_id="grading_tasks_list",
        summary="Grading tasks, newest first",
        responses={
            200: inline_serializer(
                "GradingTaskList", {"results": serializers.ListField(child=TaskSerializer)}
            )
        },
    )
    def get(self, request):
        tasks = GradingTask.objects.select_related("created_by").with_progress()[: self.listed]
        return ApiResponse({"results": [task_json(task) for task in tasks]})

    @extend_schema(
        operation_id="grading_tasks_create",
        summary="Sample a run and assign it to graders",
        description="Every answered response of the run not yet in a task, or `n` of them "
        "stratified by `evaluator`'s verdict and `slice`; each to `overlap` distinct graders.",
        request=TaskCreateSerializer,
        responses={201: TaskSerializer},
    )
    def post(self, request):
        serializer = TaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = get_object_or_404(ModelRun, pk=data["run"])
        users = {
            u.get_username(): u
            for u in get_user_model().objects.filter(username__in=data["graders"])
        }
        if unknown := sorted(set(data["graders"]) - set(users)):
            raise exceptions.NotFound({"graders": [f"No such user: {', '.join(unknown)}."]})
        try:
            task = create_task(
                run,
                name=data["name"],
                graders=list(users.values()),
                overlap=data["overlap"],
                scale=data["scale"],
                instructions=data["instructions"],
                n=data.get("n"),
                evaluator=data["evaluator"],
                slice_by=data["slice"],
                seed=data["seed"],
                created_by=request.user,
            )
        except SampleError as error:  # the run's or the graders' state: nothing left, too few
            raise Conflict(error.errors) from None
        task = GradingTask.objects.select_related("created_by").with_progress().get(pk=task.pk)
        return ApiResponse(task_json(task), status=status.HTTP_201_CREATED)


class TaskDetailView(GenericAPIView):
    permission_model = GradingTask
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        operation_id="grading_task_retrieve",
        summary="A grading task and its progress",
        responses={200: TaskSerializer},
    )
    def get(self, request, grading_task_id: int):
        task = get_object_or_404(
            GradingTask.objects.select_related("created_by").with_progress(), pk=grading_task_id
        )
        return ApiResponse(
            {
                **task_json(task),
                "agreement": figures.task_figures(task),
                "graders": [
                    {
                        "grader": row["grader"],
                        "graded": row["progress"].graded,
                        "assigned": row["progress"].total,
                    }
                    for row in queue.grader_progress(task)
                ],
            }
        )


VERDICTS_PAGE = 100


class TaskVerdictsView(GenericAPIView):
    """The human verdicts of a task's items: the panel's and each grader's, a page at a time."""

    permission_model = GradingTask
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        operation_id="grading_task_verdicts_list",
        summary="A task's human verdicts, per grader and the panel's",
        description=f"Per item (in order, {VERDICTS_PAGE} a page after position `after`): "
        "`panel`, the graders' majority (the response's one `human` verdict in reports; null "
        "while ungraded), and `graders`, each grader's own verdict with their username. "
        "`next`: the following page, or null.",
        parameters=[
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                description="Items after this position (default 0: from the first).",
            )
        ],
        responses={
            200: inline_serializer(
                "GradingTaskVerdicts",
                {
                    "results": serializers.ListField(child=serializers.DictField()),
                    "next": serializers.URLField(allow_null=True),
                },
            )
        },
    )
    def get(self, request, grading_task_id: int):
        after = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
        raw = request.query_params.get("after") or 0
        try:
            position = after.run_validation(raw)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"after": error.detail}) from None
        task = get_object_or_404(GradingTask, pk=grading_task_id)
        results = task_verdicts(task, after=position, limit=VERDICTS_PAGE)
        following = None
        if len(results) == VERDICTS_PAGE:
            following = request.build_absolute_uri(
                f"{request.path}?after={results[-1]['position']}"
            )
        return ApiResponse({"results": results, "next": following})


class EvaluatorAgreementView(GenericAPIView):
    """One automatic evaluator against people, over every graded run and run by run."""

    permission_model = GradingTask
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        operation_id="grading_evaluator_retrieve",
        summary="An evaluator's agreement with people",
        parameters=[EVALUATOR_PARAMETER],
        description="`pooled`: its kappa, accuracy and confusion against the graders' majority "
        "over every graded run (null when none), each with a 95% bootstrap interval and `n`; "
        "`runs`: the same per run id; `trust`: trusted, untrusted or unmeasured and why.",
        responses={
            200: inline_serializer(
                "EvaluatorAgreement",
                {
                    "evaluator": serializers.CharField(),
                    "pooled": serializers.DictField(allow_null=True),
                    "runs": serializers.DictField(child=serializers.DictField()),
                    "trust": serializers.DictField(),
                },
            )
        },
    )
    def get(self, request, evaluator: str):
        if "\x00" in evaluator or len(evaluator) > 100:
            raise exceptions.NotFound("No evaluator has this name.")
        found = figures.evaluator_page_figures(evaluator)
        return ApiResponse(
            {
                "evaluator": evaluator,
                "pooled": found["pooled"],
                "runs": {str(run_id): value for run_id, value in found["runs"].items()},
                "trust": figures.judge_trust(found["pooled"]),
            }
        )


class OverlapSerializer(serializers.Serializer):
    graders = serializers.ListField(
        child=StrictCharField(max_length=150), min_length=1, help_text="Usernames."
    )
    overlap = serializers.IntegerField(min_value=1, max_value=20)


class RaiseOverlapView(GenericAPIView):
    """More graders per response on a task (engineers: grading.change_gradingtask)."""

    permission_model = GradingTask
    pagination_class = None
    filter_backends: list = []
    serializer_class = OverlapSerializer

    @extend_schema(
        operation_id="grading_task_graders_create",
        summary="Raise a task's overlap with more graders",
        description="Each response gets graders up to `overlap` from `graders` (never one who "
        "already has it, the least loaded first). 404 naming an unknown username; 409 when "
        "the graders are too few or the overlap is lower than the task's.",
        request=OverlapSerializer,
        responses={200: TaskSerializer},
    )
    def post(self, request, grading_task_id: int):
        if not request.user.has_perm("grading.change_gradingtask"):
            self.permission_denied(request, message="Your role may not change grading tasks.")
        task = get_object_or_404(GradingTask, pk=grading_task_id)
        serializer = OverlapSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        users = get_user_model().objects.filter(username__in=data["graders"])
        if unknown := sorted(set(data["graders"]) - {u.get_username() for u in users}):
            raise exceptions.NotFound({"graders": [f"No such user: {', '.join(unknown)}."]})
        try:
            added = raise_overlap(task, list(users), data["overlap"])
        except SampleError as error:
            raise Conflict(error.errors) from None
        task = GradingTask.objects.select_related("created_by").with_progress().get(pk=task.pk)
        return ApiResponse({**task_json(task), "added": added})
