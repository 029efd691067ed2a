"""/api/v1/tasks/<id>/: the status of any background job, by the task id its POST returned."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as ApiResponse

from jobs.models import Job, JobKind
from jobs.status import task_status

TaskSerializer = inline_serializer(
    "TaskStatus",
    {
        "id": serializers.CharField(),
        "job_id": serializers.IntegerField(allow_null=True),
        "kind": serializers.ChoiceField([*JobKind.values, "other"]),
        "status": serializers.ChoiceField(
            ["queued", "running", "completed", "failed", "cancelled"]
        ),
        "run": serializers.IntegerField(allow_null=True),
        "enqueued_at": serializers.DateTimeField(allow_null=True),
        "started_at": serializers.DateTimeField(allow_null=True),
        "finished_at": serializers.DateTimeField(allow_null=True),
        "progress": inline_serializer(
            "TaskProgress",
            {"done": serializers.IntegerField(), "total": serializers.IntegerField()},
            allow_null=True,
        ),
        "result": serializers.JSONField(allow_null=True),
        "error": serializers.CharField(allow_null=True),
    },
)


class TaskView(GenericAPIView):
    """Any role that reads data may follow a task (jobs.view_job)."""

    permission_model = Job
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        summary="A background task's status",
        description="The job the task runs: its kind, `status` (queued, running, completed, "
        "failed or cancelled) and `progress` in the kind's unit (scored responses, answered "
        "cases, bytes of an uploaded file); `result` once completed.",
        responses={200: TaskSerializer},
    )
    def get(self, request, task_id):
        state = task_status(str(task_id))
        if state is None:
            raise Http404
        return ApiResponse(state)
