"""Repeated trials: k sibling runs of one trial group, and the report's trials block."""

import pytest
from django.core.exceptions import ValidationError
from django_tasks_db.models import DBTaskResult

from evaluations.models import Evaluation
from evaluations.reports.run_report import build_run_report
from evaluations.tasks import enqueue_evaluation
from jobs.models import Job
from runs.models import ModelRun, Response, RunCase
from runs.selection import register_run
from runs.tasks import enqueue_execution
from tests.baker_recipes import make_case

pytestmark = pytest.mark.django_db

# Which trials pass, per case, over k = 3 trials (hand-computed figures below).
TABLE = {"A": "PPP", "B": "PFF", "C": "FFF", "D": "PPF"}


def register(trials: int = 3) -> ModelRun:
    for name in TABLE:
        make_case(
            input_data={"text": name},
            ground_truth={"label": "yes"},
            output_type="classification",
            model_type="nlp",
        )
    return register_run(
        model_name="noisy",
        model_version="1",
        model_type="nlp",
        model_endpoint="python:runs.demo_models:sentiment_classifier",
        config={"trials": trials, "temperature": 0.7},
    )


def score_table(run: ModelRun) -> dict[str, int]:
    """Responses and label_match verdicts of every trial as TABLE says; case ids by name."""
    group = list(ModelRun.objects.filter(config__trial_group=run.pk).order_by("pk"))
    ids = {}
    for trial, member in enumerate(group):
        for case_id, text in RunCase.objects.filter(run=member).values_list(
            "test_case_id", "test_case__input_data__text"
        ):
            ids[text] = case_id
            passed = TABLE[text][trial] == "P"
            response = Response.objects.create(
                run=member, test_case_id=case_id, output_data={"label": "yes" if passed else "no"}
            )
            Evaluation.objects.create(
                response=response, evaluator_type="label_match", score=float(passed), passed=passed
            )
    return ids


def test_a_run_with_trials_is_k_sibling_runs_on_the_same_cases():
    run = register(3)
    group = list(ModelRun.objects.filter(config__trial_group=run.pk).order_by("pk"))
    assert [m.config["trial"] for m in group] == [1, 2, 3] and group[0] == run
    cases = set(RunCase.objects.filter(run=run).values_list("test_case_id", flat=True))
    for member in group:
        assert (
            set(RunCase.objects.filter(run=member).values_list("test_case_id", flat=True)) == cases
        )
        assert (member.total_cases, member.model_endpoint) == (4, run.model_endpoint)
        assert member.config["temperature"] == 0.7
    assert (
        register_run(
            model_name="once", model_version="1", model_type="nlp", config={"trials": 1}
        ).config.get("trial_group")
        is None
    )


@pytest.mark.parametrize("bad", [0, 21, "3", 2.5, True])
def test_bad_trials_are_refused_naming_the_key(bad):
    make_case(model_type="nlp")
    with pytest.raises(ValidationError, match='"trials" must be a whole number from 1 to 20'):
        register_run(model_name="m", model_version="1", model_type="nlp", config={"trials": bad})
    assert not ModelRun.objects.exists()


def test_pass_at_k_pass_all_k_agreement_and_flaky_cases_against_a_hand_computed_table():
    run = register(3)
    ids = score_table(run)
    block = build_run_report(run)["trials"]["label_match"]
    assert block["k"] == 3 and block["cases"] == 4
    # pass@j = mean over cases of 1 - C(3-c, j)/C(3, j); pass^j = mean of C(c, j)/C(3, j);
    # c = 3, 1, 0, 2 for A, B, C, D.
    assert block["pass_at"] == pytest.approx([1 / 2, 2 / 3, 3 / 4])
    assert block["pass_all"] == pytest.approx([1 / 2, 1 / 3, 1 / 4])
    assert (block["pass_at_k"], block["pass_all_k"]) == (pytest.approx(3 / 4), pytest.approx(1 / 4))
    assert block["mean_agreement"] == pytest.approx((1 + 2 / 3 + 1 + 2 / 3) / 4)
    assert block["flaky_count"] == 2 and block["flaky_cases"] == sorted([ids["B"], ids["D"]])
    sibling = ModelRun.objects.filter(config__trial_group=run.pk).latest("pk")
    assert build_run_report(sibling)["trials"] == build_run_report(run)["trials"]
    assert build_run_report(run)["evaluators"]["label_match"]["count"] == 4  # its own trial


def test_executing_or_scoring_one_trial_queues_the_whole_group():
    run = register(3)
    enqueue_execution(run)
    assert Job.objects.filter(kind="execution").count() == 3
    assert DBTaskResult.objects.filter(task_path__endswith="execute_run_task").count() == 3
    score_table(run)
    job = enqueue_evaluation(run)
    assert job.target_id == run.pk
    assert sorted(
        Job.objects.filter(kind="evaluation").values_list("target_id", flat=True)
    ) == sorted(ModelRun.objects.filter(config__trial_group=run.pk).values_list("pk", flat=True))


def test_a_run_without_trials_has_no_trials_block():
    make_case(model_type="nlp")
    run = register_run(model_name="m", model_version="1", model_type="nlp")
    assert build_run_report(run)["trials"] is None


def test_the_report_page_lists_the_flaky_cases(login, admin_user):
    run = register(3)
    ids = score_table(run)
    page = login(admin_user).get(f"/runs/{run.pk}/report/").content.decode()
    assert 'id="trials"' in page and f'href="/cases/{ids["B"]}/"' in page
    assert f'href="/cases/{ids["A"]}/"' not in page.split('id="trials"')[1].split("</section>")[0]


def test_comparing_two_trial_groups_pairs_per_case_mean_scores():
    from evaluations.reports.comparison import compare_runs

    noisy = register(3)
    score_table(noisy)
    steady = register_run(
        model_name="steady", model_version="1", model_type="nlp", config={"trials": 2}
    )
    for member in ModelRun.objects.filter(config__trial_group=steady.pk):
        for case_id in RunCase.objects.filter(run=member).values_list("test_case_id", flat=True):
            response = Response.objects.create(run=member, test_case_id=case_id, output_data={})
            Evaluation.objects.create(
                response=response, evaluator_type="label_match", score=1.0, passed=True
            )
    figures = compare_runs(noisy, steady)["evaluators"]["label_match"]
    # Per case over noisy's 3 trials: A 1, B 1/3, C 0, D 2/3 (passed: most trials passed).
    assert figures["paired"] == 4
    assert figures["mean_score_a"] == pytest.approx(0.5) and figures["mean_score_b"] == 1.0
    assert figures["pass_rate_a"] == pytest.approx(0.5) and figures["pass_rate_b"] == 1.0
    assert (figures["improvements"], figures["regressions"]) == (2, 0)
    single = ModelRun.objects.filter(config__trial_group=noisy.pk).latest("pk")
    other = compare_runs(single, steady)  # any trial stands for its group
    assert other["evaluators"] == compare_runs(noisy, steady)["evaluators"]
