"""/api/v1/connections/: saved connections (runs/connections.py), and `POST .../<id>/test/`."""

from dataclasses import asdict

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response as ApiResponse

from accounts.audit import record
from runs.connections import Connection, probe_connection


class ConnectionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    endpoint = serializers.CharField(read_only=True, help_text="kind:base_url")
    headers = serializers.JSONField(required=False)
    params = serializers.JSONField(required=False)

    class Meta:
        model = Connection
        fields = (
            "id",
            "name",
            "kind",
            "base_url",
            "endpoint",
            "headers",
            "model",
            "params",
            "batch_size",
            "rate_limit",
            "input_price_per_million",
            "output_price_per_million",
            "created_by",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("created_at", "updated_at")

    def validate(self, attrs: dict) -> dict:
        """The model's own rules (runs.connections.Connection.clean), field by field."""
        candidate = Connection(**{**(self._stored() if self.instance else {}), **attrs})
        try:
            candidate.clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return attrs

    def _stored(self) -> dict:
        return {
            field: getattr(self.instance, field)
            for field in self.Meta.fields
            if field not in ("id", "endpoint", "created_by", "created_at", "updated_at")
        }


class ConnectionViewSet(viewsets.ModelViewSet):
    queryset = Connection.objects.select_related("created_by")
    serializer_class = ConnectionSerializer
    pagination_class = None  # a handful of rows
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {"test": ["runs.change_connection"]}

    def perform_create(self, serializer) -> None:
        with transaction.atomic():
            connection = serializer.save(created_by=self.request.user)
            record(self.request.user, "connection.create", connection, via="api")

    def perform_update(self, serializer) -> None:
        with transaction.atomic():
            connection = serializer.save()
            fields = sorted(serializer.validated_data)
            record(self.request.user, "connection.update", connection, via="api", fields=fields)

    def perform_destroy(self, connection: Connection) -> None:
        with transaction.atomic():
            record(self.request.user, "connection.delete", connection, via="api")
            connection.delete()

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ConnectionTest",
            {
                "ok": serializers.BooleanField(),
                "latency_ms": serializers.IntegerField(allow_null=True),
                "status": serializers.IntegerField(allow_null=True),
                "reply": serializers.CharField(),
                "problem": serializers.CharField(),
            },
        ),
        description="Sends one real request through the connection (a one-line chat completion "
        "for openai; the health or model-status GET for the others).",
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        return ApiResponse(asdict(probe_connection(self.get_object())))
