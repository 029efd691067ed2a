"""Seeded rows for the security tests, and every URL the project routes made concrete.

`routed_urls(ids)` walks `get_resolver()` (pages, the admin, the API) and fills each parameter
with the id of a real seeded row, so a refusal is a refusal of a real object, not a 404.
"""

import re
from dataclasses import dataclass

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiToken
from accounts.roles import GRADER
from cases.models import TestCase
from evaluations.tasks import enqueue_evaluation
from grading.assigning import create_task
from grading.models import Assignment
from jobs.models import Job
from runs.connections import Connection
from runs.ingestion import ingest_responses
from runs.selection import register_run
from tests.baker_recipes import make_case
from versions.freezing import freeze

# The API's catch-all answers "nothing here" (JSON 404) to everyone, so scripts get JSON, never
# a login page; it reads and writes nothing. (The admin's catch-all redirects to its login.)
CATCH_ALL_404 = {"/api/v2/no-such-endpoint/"}
XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@dataclass(frozen=True)
class Route:
    pattern: str  # the resolver's pattern, e.g. "runs/<int:pk>/cancel/"
    path: str  # a concrete path with real ids, e.g. "/runs/7/cancel/"
    name: str | None

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def is_admin(self) -> bool:
        return self.path.startswith("/admin/")


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name


def _value(pattern: str, name: str, ids: dict) -> str:
    """The id of a real row for parameter `name` of `pattern` (its meaning depends on where)."""
    if name in ("run_id",):
        return str(ids["run"])
    if name == "task_id":
        return ids["task"]
    if name == "grading_task_id":
        return str(ids["grading_task"])
    if name == "assignment_id":
        return str(ids["assignment"])
    if name == "position":  # grading/tasks/<pk>/grade/<position>/
        return "1"
    if name == "evaluator":  # api/v1/grading/evaluators/<evaluator>/
        return "label_match"
    if name == "job_id":  # runs/<pk>/responses/import/<job_id>/errors.csv
        return str(ids["response_import"])
    if name == "app_label":
        return "cases"
    if name == "name":  # models/<path:name>/: the seeded run's model
        return "lexicon-sent"
    if name == "url":
        return "no/such/page/"
    if name == "path":
        return "v2/no-such-endpoint/"
    if name == "content_type_id":
        return str(ids["case_type"])
    if name in ("object_id", "id"):
        admin = re.match(r"admin/(\w+)/(\w+)/", pattern)
        return str(ids["admin"].get(admin.groups() if admin else None, ids["case"]))
    if name == "revision":  # versions/cases/<pk>/revisions/<revision>/restore/
        return "1"
    if name == "pk":
        for prefix, key in (
            ("versions/cases/", "case"),
            ("grading/tasks/", "grading_task"),
            ("versions/", "version"),
            ("api/v1/versions/", "version"),
            ("api/v1/^versions", "version"),
            ("cases/import/", "import_job"),
            ("jobs/", "import_job"),
            ("accounts/tokens/", "token"),
            ("api/v1/^runs", "run"),
            ("api/v1/^connections", "connection"),
            ("connections/", "connection"),
            ("api/v1/^cases", "case"),
            ("runs/", "run"),
            ("reports/cases/", "case"),
            ("cases/", "case"),
        ):
            if pattern.startswith(prefix):
                return str(ids[key])
    raise AssertionError(f"no seeded value for <{name}> in {pattern!r}: add one in conftest.py")


def _concrete(pattern: str, ids: dict) -> str:
    # Regex patterns (the admin's app index, DRF's router, the catch-alls): fill named groups.
    path = re.sub(r"\(\?P<(\w+)>[^()]*\)", lambda m: _value(pattern, m.group(1), ids), pattern)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: _value(pattern, m.group(1), ids), path)
    return "/" + path.replace("^", "").replace("$", "").replace("\\", "")


def routed_urls(ids: dict) -> list[Route]:
    return [Route(p, _concrete(p, ids), name) for p, name in _walk(get_resolver().url_patterns)]


@pytest.fixture
def seeded(db, make_user, admin_user) -> dict:
    """A golden case, an ai-generated one, a run with responses and verdicts, an import job, an
    evaluation task and an API token: something real behind every URL parameter."""
    cases = [make_case(input_data={"text": f"review {i}"}) for i in range(3)]
    waiting = make_case(origin="ai-generated", is_verified=False)
    run = register_run(
        model_name="lexicon-sent",
        model_version="1.0",
        model_type="nlp",
        model_endpoint="python:runs.demo_models:sentiment_classifier",
        created_by=admin_user,
    )
    lines = [{"test_case_id": c.pk, "output_data": {"label": "negative"}} for c in cases]
    ingest_responses(run, lines)
    job = enqueue_evaluation(run, None, admin_user)
    import_job = Job.objects.create(
        kind="case_import",
        params={"file_format": "jsonl", "origin": "", "dry_run": True},
        file_name="cases.jsonl",
        created_by=admin_user,
    )
    response_import = Job.objects.create(
        kind="import",
        target=run,
        state="failed",
        result={"errors": [{"line": 1, "field": "", "message": "not valid JSON"}], "more": False},
        created_by=admin_user,
    )
    token, _ = ApiToken.objects.issue(admin_user, "seeded")
    connection = Connection.objects.create(
        name="seeded", kind="openai", base_url="http://127.0.0.1:9/v1", created_by=admin_user
    )
    version = freeze("seeded v1", selection={})
    TestCase.objects.filter(pk=cases[0].pk).update(category="edited")  # revision 1 kept
    case_type = ContentType.objects.get_for_model(TestCase)
    grading_task = create_task(
        run, name="seeded grading", graders=[make_user(GRADER, "seeded-grader")], overlap=1
    )
    assignment = Assignment.objects.filter(item__task=grading_task).order_by("pk").first()
    return {
        "grading_task": grading_task.pk,
        "assignment": assignment.pk,
        "version": version.pk,
        "case": cases[0].pk,
        "cases": [c.pk for c in cases],
        "waiting": waiting.pk,
        "run": run.pk,
        "import_job": import_job.pk,
        "response_import": response_import.pk,
        "token": token.pk,
        "task": job.task_id,
        "case_type": case_type.pk,
        "connection": connection.pk,
        "admin": {
            ("runs", "connection"): connection.pk,
            ("cases", "testcase"): cases[0].pk,
            ("runs", "modelrun"): run.pk,
            ("auth", "user"): admin_user.pk,
            ("accounts", "apitoken"): token.pk,
            ("grading", "gradingtask"): grading_task.pk,
            ("grading", "gradingitem"): assignment.item_id,
            ("grading", "assignment"): assignment.pk,
        },
    }
