"""/api/v1/cases/: the list page's filters, and writes checked by the importer's validator.

A case posted to the API, typed into the form or read from an import file meets the same rules:
the API hands each object to the record validator (`cases.validation`), so messages and
defaults (origin, is_verified) match `import_cases` exactly.
"""

from typing import Any

from django.db import transaction
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.settings import api_settings

from accounts.audit import record
from cases import openapi, validation
from cases.filters import TestCaseFilterSet, sort_ordering
from cases.models import TestCase
from mleval_site.api import Conflict

EDITABLE_FIELDS = validation.FIELDS
_datetime = serializers.DateTimeField().to_representation


def validate_case(record: Any) -> dict[str, Any]:
    """One case object → model field values, or ValidationError {field: [messages]}.

    The import's validator (every field checked, every problem reported at once), so a case
    sent to the API meets exactly the rules and defaults of `import_cases`.
    """
    values, errors = validation.validate_record(record)
    if values is None:
        by_field: dict[str, list[str]] = {}
        for error in errors:
            by_field.setdefault(error.field or api_settings.NON_FIELD_ERRORS_KEY, []).append(
                error.message
            )
        raise serializers.ValidationError(by_field)
    return values


def _on_conflict(serializer: serializers.BaseSerializer) -> str:
    return serializer.context.get("on_conflict", "error")


def stored_by_external_id(values_list: list[dict], on_conflict: str) -> dict[str, TestCase]:
    """The stored cases (locked) that share an external_id with the posted ones.

    With on_conflict "error" any such case is a 409 naming the object (and index, for a list);
    "skip" and "update" get the cases back to keep or overwrite. No query when none has one.
    """
    wanted = {values["external_id"]: i for i, values in enumerate(values_list)}
    wanted.pop(None, None)
    if not wanted:
        return {}
    stored = {
        case.external_id: case
        for case in TestCase.objects.select_for_update().filter(external_id__in=list(wanted))
    }
    if stored and on_conflict == "error":
        errors = {}
        for external_id, case in stored.items():
            message = (
                f"case {case.pk} already has external_id {external_id!r}; "
                "post with ?on_conflict=skip (keep it) or ?on_conflict=update"
            )
            errors[wanted[external_id]] = {"external_id": [message]}
        if len(values_list) == 1:
            raise Conflict(errors[0])
        raise Conflict([errors.get(i, {}) for i in range(len(values_list))])
    return stored


def _overwrite(case: TestCase, values: dict) -> list[str]:
    """Give a stored case the posted values; returns the changed fields (saved only if any)."""
    changed = sorted(name for name, value in values.items() if getattr(case, name) != value)
    if changed:
        for name in changed:
            setattr(case, name, values[name])
        case.save(update_fields=changed)
    return changed


def _author(serializer: serializers.BaseSerializer):
    request = serializer.context.get("request")
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


class TestCaseListSerializer(serializers.ListSerializer):
    def create(self, validated_data: list[dict]) -> list[TestCase]:
        """All or nothing: one INSERT for the new cases (ids and timestamps come back); cases
        whose external_id is stored are kept or updated as ?on_conflict= says."""
        author = _author(self)
        on_conflict = _on_conflict(self)
        with transaction.atomic():
            stored = stored_by_external_id(validated_data, on_conflict)
            cases, new, updated = [], [], []
            for values in validated_data:
                case = stored.get(values["external_id"]) if values["external_id"] else None
                if case is None:
                    case = TestCase(**values, created_by=author)
                    new.append(case)
                elif on_conflict == "update" and _overwrite(case, values):
                    updated.append(case.pk)
                cases.append(case)
            TestCase.objects.bulk_create(new)
            ids = [case.pk for case in new]
            record(author, "cases.create", "testcase", count=len(new), ids=ids, via="api")
            if updated:
                record(author, "cases.update", "testcase", count=len(updated), ids=updated)
            return cases


class TestCaseSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Who created it."
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    input_data = serializers.JSONField(help_text="A JSON object: the model's input.")
    ground_truth = serializers.JSONField(help_text="The expected output (shape per output_type).")
    metadata = serializers.JSONField(required=False, help_text="A JSON object.")
    is_verified = serializers.BooleanField(
        required=False, help_text="Default: true for human cases, false for ai-generated ones."
    )

    class Meta:
        model = TestCase
        list_serializer_class = TestCaseListSerializer
        fields = ("id", *EDITABLE_FIELDS, "created_by", "created_at", "updated_at")
        read_only_fields = ("created_at", "updated_at")

    def run_validation(self, data=serializers.empty):
        """The import validator on the whole object (merged over the stored case for PATCH)."""
        if data is serializers.empty or data is None:
            data = {}
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [f"a case must be a JSON object, got {type(data).__name__}"]}
            )
        record = dict(data)
        if self.instance is not None and ("ground_truth" in data) != ("output_type" in data):
            missing = "output_type" if "ground_truth" in data else "ground_truth"
            raise serializers.ValidationError(
                {missing: ["send ground_truth and output_type together (the shape follows it)"]}
            )
        if self.instance is not None:  # a partial update: unchanged fields keep their values
            stored = {name: getattr(self.instance, name) for name in EDITABLE_FIELDS}
            record = {**stored, **record}
        return validate_case(record)  # an update never changes who created the case

    def create(self, validated_data: dict) -> TestCase:
        on_conflict = _on_conflict(self)
        with transaction.atomic():
            stored = stored_by_external_id([validated_data], on_conflict)
            if case := stored.get(validated_data["external_id"]):
                if on_conflict == "update" and (changed := _overwrite(case, validated_data)):
                    record(_author(self), "case.update", case, fields=changed, via="api")
                return case
            case = TestCase.objects.create(**validated_data, created_by=_author(self))
            record(case.created_by, "case.create", case, via="api")
        return case

    def to_representation(self, case: TestCase) -> dict:
        """The declared fields, written out directly: a page of cases is the API's hot path and
        DRF's field-by-field machinery costs more than the query (same JSON as the fields)."""
        author = case.created_by if case.created_by_id else None
        return {
            "id": case.pk,
            **{name: getattr(case, name) for name in EDITABLE_FIELDS},
            "created_by": author.get_username() if author else None,
            "created_at": _datetime(case.created_at),
            "updated_at": _datetime(case.updated_at),
        }

    def update(self, instance: TestCase, validated_data: dict) -> TestCase:
        changed = sorted(
            name for name, value in validated_data.items() if getattr(instance, name) != value
        )
        for name, value in validated_data.items():
            setattr(instance, name, value)
        with transaction.atomic():
            instance.save()
            record(_author(self), "case.update", instance, fields=changed, via="api")
        return instance


CASE_OR_LIST = PolymorphicProxySerializer(
    component_name="TestCaseOrList",
    serializers=[TestCaseSerializer, TestCaseSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


@extend_schema_view(
    list=extend_schema(
        summary="List cases",
        description="The golden set unless `scope` (or an origin / verified filter) widens it; "
        "the filters of the /cases/ page. Newest first unless `sort` says otherwise; "
        "cursor-paginated (follow `next`).",
        parameters=[
            OpenApiParameter("json", {"type": "string", "pattern": openapi.JSON_CONDITION}),
            OpenApiParameter("is_verified", {"enum": openapi.YES_NO}),
        ],
        responses={200: TestCaseSerializer(many=True)},
    ),
    create=extend_schema(
        summary="Create one case or many",
        description="One case object, or a list of them: all are stored or none "
        "(errors are keyed `<index>.<field>`). `id`, `created_at`, `updated_at` are ignored. "
        "A case whose `external_id` is already stored is an error unless `?on_conflict=skip` "
        "(the stored case is kept and returned) or `?on_conflict=update` (it takes the posted "
        "values).",
        parameters=[
            OpenApiParameter(
                "on_conflict",
                str,
                enum=list(validation.ON_CONFLICT),
                description="What a known external_id does (default error).",
            )
        ],
        request={"application/json": openapi.CASE_CREATE_BODY},
        responses={201: CASE_OR_LIST},
    ),
    retrieve=extend_schema(responses={200: TestCaseSerializer}),
    partial_update=extend_schema(
        request={"application/json": openapi.CASE_PATCH_BODY}, responses={200: TestCaseSerializer}
    ),
    destroy=extend_schema(
        description="Deletes the case with its responses and their evaluations.",
        responses={204: OpenApiResponse(description="Deleted.")},
    ),
)
class TestCaseViewSet(viewsets.ModelViewSet):
    # search_vector is PostgreSQL's own (a tsvector per case): never read it back.
    queryset = TestCase.objects.select_related("created_by").defer("search_vector")
    serializer_class = TestCaseSerializer
    filterset_class = TestCaseFilterSet
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def page_ordering(self) -> tuple[str, ...]:
        """The `sort` choice (the FilterSet validated it), newest first by default."""
        return sort_ordering(self.request.query_params.get("sort") or "-id")

    def filter_queryset(self, queryset):
        # The filters (and their golden-set default) shape the list; an id reaches any case.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_serializer_context(self) -> dict:
        on_conflict = self.request.query_params.get("on_conflict") or "error"
        if self.action == "create" and on_conflict not in validation.ON_CONFLICT:
            raise serializers.ValidationError(
                {"on_conflict": [f"must be one of {', '.join(validation.ON_CONFLICT)}"]}
            )
        return {**super().get_serializer_context(), "on_conflict": on_conflict}

    def create(self, request, *args, **kwargs):
        many = isinstance(request.data, list)
        if many and not request.data:
            raise serializers.ValidationError({"non_field_errors": ["the list of cases is empty"]})
        serializer = self.get_serializer(data=request.data, many=many)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: TestCase) -> None:
        with transaction.atomic():
            record(self.request.user, "case.delete", instance, via="api")
            instance.delete()
