"""/api/v1/grading/ for the people who grade: their assignments, grading one, and flagging a
case for curation from a disagreement.

The views call the domain modules only: grading.verdicts.record_grade, grading.queue,
cases.curation.flag_case. A grade is given once (POST; a second POST is a 409) and corrected
with PATCH; the automatic verdicts of a response come back only once it is graded. Everyone
who may grade (grading.grade) may flag a case.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.response import Response as ApiResponse

from cases.curation import FLAG_COMMENT_LIMIT, flag_case
from cases.models import CaseFlag, TestCase
from grading import queue
from grading.api import MAX_ID
from grading.models import Assignment, GradingTask
from grading.verdicts import COMMENT_LIMIT, AlreadyGraded, record_grade
from mleval_site.api import Conflict, StrictCharField


def assignment_json(assignment: Assignment, verdicts: list | None) -> dict:
    item = assignment.item
    response = item.response
    case = response.test_case
    body = {
        "id": assignment.pk,
        "task": item.task_id,
        "position": item.position,
        "grade": None
        if assignment.graded_at is None
        else {
            "passed": assignment.passed,
            "score": assignment.score,
            "comment": assignment.comment,
            "graded_at": assignment.graded_at,
        },
        "response": {
            "id": response.pk,
            "test_case_id": case.pk,
            "input_data": case.input_data,
            "ground_truth": case.ground_truth,
            "output_data": response.output_data,
        },
        # Only once graded: the grader is not to be anchored by them.
        "verdicts": None
        if verdicts is None
        else [
            {
                "evaluator": v.evaluator_type,
                "passed": v.passed,
                "score": v.score,
                "feedback": v.feedback,
            }
            for v in verdicts
        ],
    }
    return body


AssignmentSerializer = inline_serializer(
    "GradingAssignment",
    {
        "id": serializers.IntegerField(),
        "task": serializers.IntegerField(),
        "position": serializers.IntegerField(),
        "grade": serializers.DictField(allow_null=True),
        "response": serializers.DictField(),
        "verdicts": serializers.ListField(child=serializers.DictField(), allow_null=True),
    },
)


class CanGrade(BasePermission):
    """Grading needs grading.grade (graders, curators, engineers, admins)."""

    message = "Your role may not grade."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and request.user.has_perm(
            "grading.grade"
        )


class GradePermissionMixin:
    permission_classes = [CanGrade]
    pagination_class = None
    filter_backends: list = []


class MyAssignmentsView(GradePermissionMixin, GenericAPIView):
    permission_model = Assignment

    @extend_schema(
        operation_id="grading_assignments_list",
        summary="My assignments in a task",
        description="The responses of the task assigned to the requesting user, in order, with "
        "their grade; `verdicts` (the automatic ones) only for those already graded.",
        responses={
            200: inline_serializer(
                "GradingAssignments", {"results": serializers.ListField(child=AssignmentSerializer)}
            )
        },
    )
    def get(self, request, grading_task_id: int):
        task = get_object_or_404(GradingTask, pk=grading_task_id)
        assignments = list(
            Assignment.objects.filter(item__task=task, grader=request.user)
            .select_related("item__response__test_case")
            .order_by("item__position")
        )
        graded = [a.item.response_id for a in assignments if a.graded_at]
        verdicts = queue.verdicts_by_response(graded)
        return ApiResponse(
            {
                "results": [
                    assignment_json(
                        a, verdicts.get(a.item.response_id, []) if a.graded_at else None
                    )
                    for a in assignments
                ]
            }
        )


class GradeSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    score = serializers.FloatField(required=False, allow_null=True)
    comment = StrictCharField(
        required=False, allow_blank=True, default="", max_length=COMMENT_LIMIT
    )


class GradeView(GradePermissionMixin, GenericAPIView):
    permission_model = Assignment
    serializer_class = GradeSerializer

    def get_assignment(self, request, assignment_id: int) -> Assignment:
        assignment = get_object_or_404(
            Assignment.objects.select_related("item__task", "item__response__test_case"),
            pk=assignment_id,
        )
        if assignment.grader_id != request.user.pk:
            self.permission_denied(request, message="This response is not assigned to you.")
        return assignment

    def grade(self, request, assignment_id: int, *, amend: bool):
        assignment = self.get_assignment(request, assignment_id)
        serializer = GradeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if amend and assignment.graded_at is None:
            raise Conflict("Not graded yet: POST the first grade.")
        try:
            record_grade(assignment, amend=amend, **serializer.validated_data)
        except AlreadyGraded as error:
            raise Conflict(f"{error} Correct it with PATCH.") from None
        except DjangoValidationError as error:  # a score off this task's scale
            raise Conflict(error.message_dict) from None
        assignment.refresh_from_db()
        verdicts = queue.automatic_verdicts(assignment.item.response_id)
        return ApiResponse(
            assignment_json(assignment, verdicts),
            status=status.HTTP_200_OK if amend else status.HTTP_201_CREATED,
        )

    @extend_schema(
        operation_id="grading_grade_create",
        summary="Grade an assigned response (once)",
        description="409 when already graded (PATCH corrects a grade); 403 when the response "
        "is not assigned to you. The answer reveals the automatic verdicts.",
        request=GradeSerializer,
        responses={201: AssignmentSerializer},
    )
    def post(self, request, assignment_id: int):
        return self.grade(request, assignment_id, amend=False)

    @extend_schema(
        operation_id="grading_grade_update",
        summary="Correct your grade of a response",
        request=GradeSerializer,
        responses={200: AssignmentSerializer},
    )
    def patch(self, request, assignment_id: int):
        return self.grade(request, assignment_id, amend=True)


class FlagSerializer(serializers.Serializer):
    case = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="A test case id.")
    comment = StrictCharField(
        max_length=FLAG_COMMENT_LIMIT, help_text="What is wrong with the case (required)."
    )


FlagJson = inline_serializer(
    "CaseFlag",
    {
        "id": serializers.IntegerField(),
        "case": serializers.IntegerField(),
        "comment": serializers.CharField(),
        "source": serializers.CharField(),
        "flagged_by": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
    },
)


class FlagView(GradePermissionMixin, GenericAPIView):
    """A case sent to curators' review queue with a comment, as from the disagreements page."""

    permission_model = CaseFlag
    serializer_class = FlagSerializer

    @extend_schema(
        operation_id="grading_flag_create",
        summary="Flag a case for curation",
        description="The case waits in the review queue (/cases/review/, flagged for "
        "curation) with the comment until a curator resolves it. Anyone who may grade. 404 "
        "for an unknown case; 400 naming `comment` when it is blank.",
        request=FlagSerializer,
        responses={201: FlagJson},
    )
    def post(self, request):
        serializer = FlagSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = get_object_or_404(TestCase, pk=serializer.validated_data["case"])
        try:
            flag = flag_case(
                case, serializer.validated_data["comment"], request.user, source="grading"
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return ApiResponse(
            {
                "id": flag.pk,
                "case": case.pk,
                "comment": flag.comment,
                "source": flag.source,
                "flagged_by": request.user.get_username(),
                "created_at": flag.created_at,
            },
            status=status.HTTP_201_CREATED,
        )
