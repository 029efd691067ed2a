"""/api/v1/system/: the health page's figures for monitoring scripts, with an API token."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response as ApiResponse

from system.health import collect
from system.models import SystemHealthMetric

HealthSerializer = inline_serializer(
    "SystemHealth",
    {
        "taken_at": serializers.DateTimeField(),
        "database": serializers.ChoiceField(["embedded", "external"]),
        "database_bytes": serializers.IntegerField(),
        "tables": inline_serializer(
            "TableCount",
            {
                "table": serializers.CharField(),
                "rows": serializers.IntegerField(),
                "estimated": serializers.BooleanField(),
            },
            many=True,
        ),
        "queued": serializers.IntegerField(),
        "running": serializers.IntegerField(),
        "failed_last_hour": serializers.IntegerField(),
        "oldest_queued_seconds": serializers.FloatField(allow_null=True),
        "workers": inline_serializer(
            "WorkerHeartbeat",
            {
                "worker_id": serializers.CharField(),
                "hostname": serializers.CharField(),
                "pid": serializers.IntegerField(),
                "started_at": serializers.DateTimeField(),
                "seen_at": serializers.DateTimeField(),
                "age_seconds": serializers.FloatField(),
                "alive": serializers.BooleanField(),
            },
            many=True,
        ),
        "workers_alive": serializers.IntegerField(),
        "requests_last_hour": serializers.IntegerField(),
        "errors_last_hour": serializers.IntegerField(),
        "error_rate": serializers.FloatField(allow_null=True),
    },
)


class SystemHealthView(GenericAPIView):
    """Admins only, as /system/ (the view permission of SystemHealthMetric)."""

    permission_model = SystemHealthMetric
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        summary="System health",
        description="The figures of /system/ now: database size and table row counts (`estimated` "
        "when read from the planner's statistics), the task queue, each worker's last heartbeat, "
        "and the last hour's requests and server errors.",
        responses={200: HealthSerializer},
    )
    def get(self, request):
        return ApiResponse(collect().as_json())
