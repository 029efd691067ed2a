"""create_run and execute_run: the pages' code paths from a terminal, per INTERFACES.md."""

import io

import pytest
from django.core.management import CommandError, call_command

from runs.models import ModelRun, Response
from tests.baker_recipes import make_case
from tests.runs.conftest import SENTIMENT


def run_command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


class TestCreateRun:
    def test_prints_the_new_run_id_alone(self, golden):
        last = run_command(
            "create_run",
            "--model-name=lexicon",
            "--model-version=1.0",
            "--model-type=nlp",
            f"--endpoint={SENTIMENT}",
            '--config={"positive_weight": 0.5}',
        )
        run = ModelRun.objects.get()
        assert last == str(run.pk)
        assert run.total_cases == 8 and run.model_endpoint == SENTIMENT
        assert run.config == {
            "positive_weight": 0.5,
            "selection": {"model_type": "nlp", "scope": "golden"},
        }

    def test_filter_flags_select_the_cases(self, golden):
        make_case(tags=["sarcasm"], difficulty="hard", origin="ai-generated", is_verified=False)
        run_command(
            "create_run",
            "--model-name=m",
            "--model-version=1",
            "--model-type=nlp",
            "--tag=sarcasm",
            "--tag=irony",
            "--difficulty=hard",
            "--unverified",
            "--all",
        )
        run = ModelRun.objects.get()
        assert run.total_cases == 1
        assert run.selection == {
            "model_type": "nlp",
            "scope": "all",
            "tags": ["irony", "sarcasm"],  # canonical: sorted
            "difficulty": "hard",
            "is_verified": False,
        }

    @pytest.mark.parametrize(
        ("flags", "message"),
        [
            (["--config=[1]"], "--config must be a JSON object"),
            (["--config={bad"], "--config is not valid JSON"),
            (["--endpoint=ftp://x"], "--endpoint: Write an http(s):// URL"),
            (["--category=nothing"], "No test case matches this selection"),
            (["--user=nobody"], "--user: no user named 'nobody'"),
        ],
    )
    def test_bad_input_exits_with_one_message_and_writes_nothing(self, golden, flags, message):
        base = ["--model-name=m", "--model-version=1", "--model-type=nlp"]
        with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
            call_command("create_run", *base, *flags)
        assert not ModelRun.objects.exists()


class TestExecuteRun:
    def test_executes_and_prints_the_counts(self, run):
        assert run_command("execute_run", str(run.pk), "--concurrency=2") == "completed 8, failed 0"
        assert Response.objects.filter(run=run).count() == 8

    def test_a_second_call_resumes(self, run, model_server, golden):
        model_server.behaviour = lambda case_id, attempt: (
            (503, "busy", 0) if case_id == golden[0].pk else (200, {"label": "positive"}, 0)
        )
        ModelRun.objects.filter(pk=run.pk).update(model_endpoint=model_server.url)
        args = ("execute_run", str(run.pk), "--retries=0", "--timeout=5")
        assert run_command(*args) == "completed 7, failed 1"
        assert run_command(*args) == "completed 7, failed 1"  # nothing left to call
        assert model_server.total_calls == 8
        model_server.behaviour = lambda case_id, attempt: (200, {"label": "positive"}, 0)
        assert run_command(*args, "--retry-failed") == "completed 8, failed 0"
        assert model_server.total_calls == 9

    @pytest.mark.parametrize(
        ("flags", "message"),
        [
            (["--concurrency=0"], "--concurrency must be between 1 and 1024"),
            (["--timeout=-1"], "--timeout must be a positive number"),
            (["--retries=99"], "--retries must be between 0 and 20"),
        ],
    )
    def test_bad_flags_exit_with_one_message(self, run, flags, message):
        with pytest.raises(CommandError, match=message):
            call_command("execute_run", str(run.pk), *flags)
        run.refresh_from_db()
        assert run.status == "pending"

    def test_unknown_run_and_missing_endpoint(self, golden):
        with pytest.raises(CommandError, match="No run with id 0"):
            call_command("execute_run", "0")
        run_id = run_command(
            "create_run", "--model-name=m", "--model-version=1", "--model-type=nlp"
        )
        with pytest.raises(CommandError, match="has no endpoint"):
            call_command("execute_run", run_id)
        Response.objects.create(
            run_id=run_id, test_case=golden[0], output_data={}, error_message="timeout"
        )
        with pytest.raises(CommandError, match="has no endpoint"):
            call_command("execute_run", run_id, "--retry-failed")
        assert Response.objects.filter(run_id=run_id).exclude(error_message="").count() == 1
