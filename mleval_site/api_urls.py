"""/api/: the OpenAPI schema, its interactive docs, and each app's v1 endpoints (its api.py)."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from cases.api import TestCaseViewSet
from evaluations.api import CompareView, EvaluateView, ExecuteView, ReportView
from evaluations.compare_cases_api import CompareCasesView
from evaluations.failing_api import FailingView
from evaluations.gate_api import GateView
from grading import api as grading_api
from grading import grader_api
from jobs.api import TaskView
from mleval_site.api import not_found
from mleval_site.views import SchemaView
from runs.api import RunViewSet
from runs.connection_api import ConnectionViewSet
from runs.model_api import LineageView, RunBaselineView
from runs.response_api import RunResponsesView
from system.api import SystemHealthView
from versions.api import VersionCasesView, VersionDiffView, VersionViewSet

router = SimpleRouter()
router.register("cases", TestCaseViewSet, basename="case")
router.register("runs", RunViewSet, basename="run")
router.register("versions", VersionViewSet, basename="version")
router.register("connections", ConnectionViewSet, basename="connection")

v1 = [
    # Before the router: "diff" is not a version id.
    path("versions/diff/", VersionDiffView.as_view(), name="version-diff"),
    path("versions/<int:pk>/cases/", VersionCasesView.as_view(), name="version-cases"),
    *router.urls,
    path("runs/<int:run_id>/responses/", RunResponsesView.as_view(), name="run-responses"),
    path("runs/<int:run_id>/execute/", ExecuteView.as_view(), name="run-execute"),
    path("runs/<int:run_id>/evaluate/", EvaluateView.as_view(), name="run-evaluate"),
    path("runs/<int:run_id>/report/", ReportView.as_view(), name="run-report"),
    path("runs/<int:run_id>/failing/", FailingView.as_view(), name="run-failing"),
    path("runs/<int:run_id>/baseline/", RunBaselineView.as_view(), name="run-baseline"),
    path("lineage/", LineageView.as_view(), name="lineage"),
    path("compare/", CompareView.as_view(), name="compare"),
    path("compare/cases/", CompareCasesView.as_view(), name="compare-cases"),
    path("gate/", GateView.as_view(), name="gate"),
    path("tasks/<uuid:task_id>/", TaskView.as_view(), name="task"),
    path("system/", SystemHealthView.as_view(), name="system-health"),
    path("grading/tasks/", grading_api.TaskListView.as_view(), name="grading-tasks"),
    path(
        "grading/tasks/<int:grading_task_id>/",
        grading_api.TaskDetailView.as_view(),
        name="grading-task",
    ),
    path(
        "grading/tasks/<int:grading_task_id>/assignments/",
        grader_api.MyAssignmentsView.as_view(),
        name="grading-assignments",
    ),
    path(
        "grading/tasks/<int:grading_task_id>/verdicts/",
        grading_api.TaskVerdictsView.as_view(),
        name="grading-task-verdicts",
    ),
    path(
        "grading/tasks/<int:grading_task_id>/graders/",
        grading_api.RaiseOverlapView.as_view(),
        name="grading-task-graders",
    ),
    path(
        "grading/evaluators/<str:evaluator>/",
        grading_api.EvaluatorAgreementView.as_view(),
        name="grading-evaluator",
    ),
    path(
        "grading/assignments/<int:assignment_id>/grade/",
        grader_api.GradeView.as_view(),
        name="grading-grade",
    ),
    path("grading/flags/", grader_api.FlagView.as_view(), name="grading-flags"),
]

urlpatterns = [
    path("v1/", include((v1, "api"))),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    # The docs page is for people in a browser: send them to the login page, not a 401. Its
    # script is served as a file (`?script`), not inline, so a strict CSP can allow it.
    path(
        "docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    re_path(r"^(?P<path>[\s\S]*)$", not_found),  # any character, newlines included
]
