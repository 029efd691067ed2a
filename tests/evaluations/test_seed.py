"""seed_user_data: realistic multi-domain data, idempotent, --reset touches only seeded rows."""

import io

import pytest
from django.core.management import call_command
from model_bakery import baker

from cases.models import TestCase
from evaluations.models import Evaluation
from evaluations.reports import build_run_report
from runs.models import ModelRun, Response


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_user_data", *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (TestCase, ModelRun, Response, Evaluation))


@pytest.mark.django_db
def test_seed_is_idempotent():
    first = seed()
    after_first = counts()
    cases, runs, _, evaluations = after_first  # the database started empty
    assert cases and runs and evaluations
    assert first == f"seeded: {cases} cases, {runs} runs, {evaluations} evaluations"
    assert seed() == "seeded: 0 cases, 0 runs, 0 evaluations"
    assert counts() == after_first


@pytest.mark.django_db
def test_seed_covers_the_domains_and_the_review_queue():
    seed()
    domains = set(TestCase.objects.values_list("model_type", flat=True))
    assert {"computer_vision", "nlp", "time_series", "recommender", "tabular", "llm"} <= domains
    output_types = set(TestCase.objects.values_list("output_type", flat=True))
    assert {
        "classification",
        "bounding_boxes",
        "text",
        "forecast",
        "ranking",
        "regression",
        "structured",
        "multilabel",
    } <= output_types
    assert TestCase.objects.awaiting_review().exists()
    assert TestCase.objects.filter(origin="ai-generated", is_verified=True).exists()
    assert TestCase.objects.exclude(tags=[]).exists()
    assert set(TestCase.objects.values_list("difficulty", flat=True)) >= {"easy", "medium", "hard"}
    for run in ModelRun.objects.all():
        assert run.responses.count() == run.total_cases > 0
    # A classifier that gives its probabilities: the report's ROC, PR and calibration.
    scores = build_run_report(ModelRun.objects.get(config__seed_key="churn-v2"))
    assert scores["classification"]["scores"]["count"] == scores["classification"]["count"] > 0
    assert 0.5 < scores["classification"]["scores"]["roc_auc"] <= 1.0
    price = build_run_report(ModelRun.objects.get(config__seed_key="price-v1"))
    assert price["regression"]["count"] > 0
    topics = build_run_report(ModelRun.objects.get(config__seed_key="topics-v1"))
    assert 0 < topics["multilabel"]["macro_f1"] < 1


@pytest.mark.django_db
def test_reset_replaces_only_seeded_rows():
    seed()
    mine = baker.make(TestCase, input_data={"text": "mine"}, ground_truth={"label": "x"})
    before = counts()
    seed("--reset")
    assert TestCase.objects.filter(pk=mine.pk).exists()
    assert counts() == before
