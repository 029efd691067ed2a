"""/api/v1/versions/: list and freeze versions, read one, page through its cases, diff two."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.response import Response

from cases.openapi import SELECTION
from cases.selection import SelectionError
from mleval_site.api import Conflict, CursorPage, StrictCharField, StrictModelSerializer
from mleval_site.api_schema import NOT_BLANK, text
from versions import freezing
from versions.models import SNAPSHOT_FIELDS, Version, VersionCaseContent


@extend_schema_field(
    {
        **SELECTION,
        "description": "The case list's filters to freeze (as on /cases/ and /api/v1/cases/); "
        "default: the golden set.",
    }
)
class SelectionField(serializers.DictField):
    """Validated by freezing.freeze (cases.selection), every filter named in its errors."""


@extend_schema_field(text(minLength=1, maxLength=200, pattern=NOT_BLANK))
class NameField(StrictCharField):
    """A version's name: more than spaces (freeze() strips it), no NUL, at most 200."""


class VersionSerializer(StrictModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    # No unique validator: freeze() answers a taken name (409). Unstripped, so the schema's
    # maxLength holds; freeze() strips it.
    name = NameField(max_length=200, trim_whitespace=False)
    selection = SelectionField(required=False)

    class Meta:
        model = Version
        fields = ("id", "name", "description", "selection", "case_count", "created_by",
                  "created_at")  # fmt: skip
        read_only_fields = ("case_count", "created_at")

    def create(self, validated_data: dict) -> Version:
        try:
            return freezing.freeze(
                validated_data["name"],
                selection=validated_data.get("selection") or {},
                description=validated_data.get("description", ""),
                created_by=self.context["request"].user,
            )
        except freezing.NothingToFreeze as error:
            raise Conflict(error.errors) from None
        except freezing.NameTaken as error:
            raise Conflict(error.message_dict) from None
        except SelectionError as error:
            raise serializers.ValidationError(
                {
                    f"selection.{name}" if name != "selection" else name: messages
                    for name, messages in error.errors.items()
                }  # fmt: skip
            ) from None
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None


class VersionCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = VersionCaseContent
        fields = ("case_id", "revision", "deleted", "edited", *SNAPSHOT_FIELDS)


@extend_schema_view(
    list=extend_schema(summary="List golden-set versions", description="Newest first."),
    create=extend_schema(
        summary="Freeze a version",
        description="Freezes the cases `selection` picks, at their current revisions, as the "
        "named immutable version (curators). 409 for a taken name or a selection that matches "
        "no case; 400 for a bad filter (`selection.<filter>`).",
    ),
    retrieve=extend_schema(summary="Read a version"),
)
class VersionViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Versions are never edited or deleted: no PUT, PATCH or DELETE (405). Mixins, not
    generics.ListCreateAPIView: that one's `post` answered POST /versions/<id>/ too."""

    queryset = Version.objects.select_related("created_by")
    serializer_class = VersionSerializer

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = serializer.save()
        return Response(self.get_serializer(version).data, status=status.HTTP_201_CREATED)


class VersionCasesView(generics.ListAPIView):
    """A version's cases at their pinned revisions, by case id; `deleted` / `edited` say what
    became of the live case since."""

    serializer_class = VersionCaseSerializer
    pagination_class = CursorPage
    permission_model = Version
    queryset = VersionCaseContent.objects.none()

    def page_ordering(self) -> tuple[str, ...]:
        return ("case_id",)

    @extend_schema(
        summary="A version's cases (paged)",
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH, description="Version id")],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        version = get_object_or_404(Version, pk=self.kwargs["pk"])
        return VersionCaseContent.objects.filter(version=version)


class VersionDiffView(generics.GenericAPIView):
    permission_model = Version
    queryset = Version.objects.all()

    @extend_schema(
        summary="Diff two versions",
        description="Cases added in b, removed from a, and changed between them (with the "
        "content fields that differ), and the counts.",
        parameters=[
            OpenApiParameter("a", int, required=True),
            OpenApiParameter("b", int, required=True),
        ],
        responses={200: dict},
    )
    def get(self, request):
        ids = {}
        for name in ("a", "b"):
            try:
                ids[name] = int(request.query_params.get(name, ""))
            except ValueError:
                raise serializers.ValidationError({name: ["A version id is required."]}) from None
        a = get_object_or_404(Version, pk=ids["a"])
        b = get_object_or_404(Version, pk=ids["b"])
        return Response(freezing.diff(a, b).as_json())
