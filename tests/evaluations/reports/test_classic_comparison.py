"""The comparison's AUC block: two fitted classifiers on the same breast_cancer cases, their
AUCs as scikit-learn's and DeLong's test of the difference (evaluations.delong)."""

import numpy as np
import pytest
from django.urls import reverse
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from cases.models import TestCase
from evaluations.delong import delong_test
from evaluations.exports import comparison_rows
from evaluations.pipeline import evaluate_run
from evaluations.reports import compare_runs
from runs.models import ModelRun, Response

NAMES = ["malignant", "benign"]


def _run(cases, proba, version, **config):
    run = ModelRun.objects.create(
        model_name="clf",
        model_version=version,
        model_type="tabular",
        status="completed",
        config=config,
    )
    Response.objects.bulk_create(
        Response(
            run=run,
            test_case=case,
            output_data={
                "label": NAMES[int(np.argmax(row))],
                "scores": {name: float(p) for name, p in zip(NAMES, row, strict=True)},
            },
        )
        for case, row in zip(cases, proba, strict=True)
    )
    evaluate_run(run)
    return run


@pytest.fixture
def two_runs(db):
    data = datasets.load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data[:, :5], data.target, test_size=0.4, random_state=1, stratify=data.target
    )
    a = GaussianNB().fit(x_train, y_train).predict_proba(x_test)
    b = LogisticRegression(max_iter=2000).fit(x_train, y_train).predict_proba(x_test)
    cases = TestCase.objects.bulk_create(
        TestCase(
            input_data={"i": i},
            input_type="tabular",
            ground_truth={"label": NAMES[t]},
            output_type="classification",
            model_type="tabular",
        )
        for i, t in enumerate(y_test)
    )
    run_a = _run(cases, a, "1.0", positive_label="malignant")
    run_b = _run(cases, b, "2.0")
    return run_a, run_b, y_test == 0, a[:, 0], b[:, 0]


def test_auc_difference_with_delong(two_runs, viewer, login):
    run_a, run_b, y, p_a, p_b = two_runs
    auc = compare_runs(run_a, run_b)["auc"]
    assert auc["positive_label"] == "malignant"  # run A's positive label
    assert auc["paired"] == len(y) and auc["positives"] == int(y.sum())
    assert auc["auc_a"] == pytest.approx(roc_auc_score(y, p_a), abs=1e-9)
    assert auc["auc_b"] == pytest.approx(roc_auc_score(y, p_b), abs=1e-9)
    expected = delong_test(y, p_a, p_b)
    for key in ("delta", "se", "p_value"):
        assert auc[key] == pytest.approx(expected[key], abs=1e-12)
    assert auc["ci95"] == pytest.approx(expected["ci95"], abs=1e-12)
    assert ("auc", "label_match", "", "", "p_value", auc["p_value"]) in set(
        comparison_rows(compare_runs(run_a, run_b))
    )
    page = login(viewer).get(reverse("evaluations:compare") + f"?a={run_a.pk}&b={run_b.pk}")
    assert "DeLong" in page.content.decode() and 'id="auc"' in page.content.decode()


def test_no_auc_without_probabilities(build):
    run_a, run_b = build.run(), build.run()
    for i in range(6):
        case = build.case({"label": "ab"[i % 2]})
        for run in (run_a, run_b):
            build.judge(build.respond(run, case, {"label": "a"}), "label_match")
    comparison = compare_runs(run_a, run_b)
    assert comparison["evaluators"]["label_match"]["paired"] == 6
    assert comparison["auc"] is None


def test_cached_comparison_reads_scores_only_when_the_reports_have_them(two_runs, build):
    """summaries.comparison asks the runs' current summaries first: the positive label when
    both have two-label probabilities, no scores statement at all when either has none."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from evaluations import summaries
    from evaluations.summary_store import compute_summary

    run_a, run_b, y, p_a, p_b = two_runs
    compute_summary(run_a), compute_summary(run_b)
    auc = summaries.comparison(run_a, run_b)["auc"]
    assert auc["auc_b"] == pytest.approx(roc_auc_score(y, p_b), abs=1e-9)
    assert auc["delta"] == pytest.approx(delong_test(y, p_a, p_b)["delta"], abs=1e-12)

    plain_a, plain_b = build.run(), build.run()
    for i in range(6):
        case = build.case({"label": "ab"[i % 2]})
        for run in (plain_a, plain_b):
            build.judge(build.respond(run, case, {"label": "a"}), "label_match")
    compute_summary(plain_a), compute_summary(plain_b)
    with CaptureQueriesContext(connection) as queries:
        assert summaries.comparison(plain_a, plain_b)["auc"] is None
    assert not any("'scores'" in q["sql"] or "COLLATE" in q["sql"] for q in queries)
