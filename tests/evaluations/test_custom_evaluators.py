"""Custom evaluators: the MLEVAL_EVALUATORS setting and the mleval.evaluators entry point group
register a team's scorers (tests/evaluations/team_plugin) beside the built-ins: the registry,
/evaluators/, the Evaluate form, the API and the real worker all see them."""

import json
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from model_bakery import baker

from accounts.models import ApiToken
from cases.models import TestCase
from evaluations.evaluators import (
    REGISTRY,
    EvaluatorConfigError,
    run_evaluator,
    validate_params,
)
from evaluations.evaluators.docs import evaluators_page
from evaluations.forms import EvaluateRunForm
from evaluations.models import Evaluation
from evaluations.tasks import enqueue_evaluation
from runs.models import ModelRun, Response

PLUGIN_DIR = Path(__file__).resolve().parent / "team_plugin"
TEAM = ["team_evaluators.WORD_LIMIT", "team_evaluators.team_shouting"]


@pytest.fixture
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


@pytest.fixture(autouse=True)
def _restore_registry():
    """The registry and the /evaluators/ page built from it (once per process) as they were."""
    before = dict(REGISTRY)
    evaluators_page.cache_clear()
    yield
    REGISTRY.clear()
    REGISTRY.update(before)
    evaluators_page.cache_clear()


def load(settings, paths):
    settings.MLEVAL_EVALUATORS = paths
    return apps.get_app_config("evaluations").load_custom_evaluators()


def test_setting_registers_evaluators_and_functions(settings, plugin_path):
    assert "team_word_limit" not in REGISTRY
    assert load(settings, TEAM) == ["team_word_limit", "team_shouting"]
    # parameters are validated like a built-in's
    assert validate_params("team_word_limit", {}) == {"max_words": 5}
    with pytest.raises(EvaluatorConfigError, match="must be >= 1"):
        validate_params("team_word_limit", {"max_words": 0})
    with pytest.raises(EvaluatorConfigError, match="unknown parameter 'max'"):
        validate_params("team_word_limit", {"max": 3})
    with pytest.raises(EvaluatorConfigError, match="accepted: none"):
        validate_params("team_shouting", {"loud": True})

    verdict = run_evaluator("team_word_limit", {"text": "a b c d"}, None, {"max_words": 3})
    assert (verdict.score, verdict.passed, verdict.metrics["words"]) == (0.0, False, 4)
    assert verdict.metrics["evaluator_version"] == "3"
    shout = run_evaluator("team_shouting", "EIGHT LEGS", None, {})
    assert (shout.score, shout.passed) == (1.0, True)
    assert run_evaluator("team_shouting", "eight", None, {}).passed is False
    # the same contract: a malformed output is an error verdict, not a raise
    assert "error" in run_evaluator("team_shouting", {"label": 3}, None, {}).metrics
    assert load(settings, TEAM) == ["team_word_limit", "team_shouting"]  # loading twice is fine


def test_a_misbehaving_function_gives_an_error_verdict(settings, plugin_path):
    load(settings, ["team_evaluators.team_broken"])
    verdict = run_evaluator("team_broken", "x", None, {})
    assert verdict.score == 0.0 and verdict.metrics["internal_error"] is True
    assert "must return a Verdict" in verdict.metrics["error"]


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["team_evaluators.missing"], "cannot import 'team_evaluators.missing'"),
        (["no_such_module.thing"], "cannot import"),
        (["team_evaluators"], "not a dotted path"),
        (["team_evaluators.__doc__"], "names str, not an Evaluator"),
    ],
)
def test_a_bad_setting_stops_start_up_with_its_reason(settings, plugin_path, paths, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load(settings, paths)


def test_a_name_taken_by_a_built_in_is_refused(settings, plugin_path, monkeypatch):
    import team_evaluators

    monkeypatch.setattr(team_evaluators.team_shouting, "__name__", "exact_match")
    with pytest.raises(ImproperlyConfigured, match="'exact_match' is already registered"):
        load(settings, ["team_evaluators.team_shouting"])
    assert REGISTRY["exact_match"].expects == "any JSON value on both sides"  # untouched


def test_entry_point_group_from_an_installed_distribution(tmp_path, monkeypatch, settings, caplog):
    """A dist-info folder on sys.path is how pip installs a package's entry points."""
    dist = tmp_path / "team_evaluators-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: team-evaluators\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[mleval.evaluators]\n"
        "limit = team_evaluators:WORD_LIMIT\n"
        "broken = team_evaluators_missing:thing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    assert load(settings, []) == ["team_word_limit"]
    assert validate_params("team_word_limit", {"max_words": 2}) == {"max_words": 2}
    # the broken entry point is logged and skipped, not fatal
    assert "entry point broken = team_evaluators_missing:thing" in caplog.text


@pytest.mark.django_db
def test_page_form_and_api_offer_a_custom_evaluator(settings, plugin_path, client, login, engineer):
    load(settings, TEAM)
    page = login(engineer).get("/evaluators/").content.decode()
    assert "team_word_limit" in page and "the most words allowed" in page
    run = baker.make(ModelRun, model_type="nlp")
    case = baker.make(TestCase, output_type="text", ground_truth={"text": "8"})
    baker.make(Response, run=run, test_case=case, output_data={"text": "eight legs"})
    form = EvaluateRunForm(
        {"evaluators": ["team_word_limit"], "params": '{"team_word_limit": {"max_words": 0}}'},
        run=run,
    )
    assert ("team_word_limit", "team_word_limit") in form.fields["evaluators"].choices
    assert not form.is_valid()
    assert form.errors["params"] == ['evaluator: parameter "max_words" must be >= 1']

    _, token = ApiToken.objects.issue(engineer, "tests")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = f"/api/v1/runs/{run.pk}/evaluate/"
    bad = {"evaluators": [{"name": "team_word_limit", "params": {"max_words": "two"}}]}
    response = client.post(url, json.dumps(bad), content_type="application/json", **headers)
    assert response.status_code == 400 and "max_words" in json.dumps(response.json())
    good = {"evaluators": [{"name": "team_word_limit", "params": {"max_words": 2}}]}
    response = client.post(url, json.dumps(good), content_type="application/json", **headers)
    assert response.status_code == 202
    [planned] = response.json()["evaluators"]
    assert (planned["name"], planned["params"]) == ("team_word_limit", {"max_words": 2})


def test_the_worker_scores_with_the_setting(settings, plugin_path, make_user, run_worker):
    """The real db_worker process registers MLEVAL_EVALUATORS at start-up and scores with it."""
    load(settings, TEAM)
    run = baker.make(ModelRun, model_type="nlp")
    for text in ("eight legs", "a spider has eight legs"):
        case = baker.make(TestCase, output_type="text", ground_truth={"text": "8"})
        baker.make(Response, run=run, test_case=case, output_data={"text": text})
    enqueue_evaluation(run, [{"name": "team_word_limit", "params": {"max_words": 3}}])
    env = {
        "MLEVAL_EVALUATORS": ",".join(TEAM),
        "PYTHONPATH": f"{PLUGIN_DIR}:{Path(__file__).resolve().parents[2]}",
    }
    run_worker(batch=True, env=env)
    verdicts = dict(
        Evaluation.objects.filter(evaluator_type="team_word_limit").values_list(
            "response__output_data__text", "passed"
        )
    )
    assert verdicts == {"eight legs": True, "a spider has eight legs": False}  # 2 ≤ 3 < 5 words
