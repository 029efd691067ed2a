"""A failed call's reply excerpt is read by engineers and admins only (issue 14): viewers and
curators see "call failed" on the run page, in the API and in the scores' feedback."""

import pytest
from django.test import Client

from accounts.models import ApiToken
from evaluations.evaluators.registry import failed_call_verdict
from runs.callers import ExecutionOptions
from runs.execution import execute_run
from runs.models import Response
from runs.replies import redacted
from runs.selection import register_run

SECRET = "Traceback: password=hunter2 at db.internal:5432"


@pytest.fixture
def failed_run(golden, model_server):
    model_server.behaviour = lambda case_id, attempt: (500, {"error": SECRET}, 0)
    run = register_run(
        model_name="m", model_version="1", model_type="nlp", model_endpoint=model_server.url
    )
    execute_run(run, ExecutionOptions(concurrency=2, timeout=5, retries=0, backoff=0.01))
    assert SECRET in Response.objects.filter(run=run).first().error_message  # stored whole
    return run


@pytest.mark.django_db
class TestWhoReadsTheReply:
    @pytest.mark.parametrize(
        ("persona", "sees"),
        [("viewer", False), ("curator", False), ("engineer", True), ("admin_user", True)],
    )
    def test_run_page_and_api(self, request, login, failed_run, persona, sees):
        user = request.getfixturevalue(persona)
        page = login(user).get(f"/runs/{failed_run.pk}/").content.decode()
        _, raw = ApiToken.objects.issue(user, "t")
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        rows = api.get(f"/api/v1/runs/{failed_run.pk}/responses/").json()["results"]
        messages = {row["error_message"] for row in rows}
        assert len(rows) == 8
        if sees:
            assert "hunter2" in page and all(SECRET in m for m in messages)
        else:
            assert "hunter2" not in page and "call failed" in page
            assert messages == {
                "HTTP 500: call failed (the reply is shown to engineers and admins)"
            }

    def test_the_stored_verdict_keeps_no_excerpt(self):
        verdict = failed_call_verdict(f'HTTP 503: {{"error": "{SECRET}"}} (after 4 attempts)')
        assert "hunter2" not in verdict.feedback and "hunter2" not in str(verdict.metrics)
        assert verdict.metrics["error"].startswith("HTTP 503: call failed")
        assert verdict.metrics["error"].endswith("(after 4 attempts)")


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ('HTTP 400: {"detail": "x"}', "HTTP 400: call failed"),
        ("the endpoint replied with a non-JSON body: <html>", "the endpoint replied with"),
        ("the server replied with a non-JSON body: oops", "the server replied with"),
        ("the reply has no choices[0].message.content: {}", "the reply has no"),
        ("timed out after 5s (after 4 attempts)", "timed out after 5s (after 4 attempts)"),
        ("connection failed: ConnectError", "connection failed: ConnectError"),
    ],
)
def test_redaction_keeps_the_kind_of_failure(message, shown):
    assert redacted(message).startswith(shown)
    if message.startswith(("HTTP", "the")):
        assert "call failed" in redacted(message)
