"""The report page's classic ML sections and the threshold explorer: charts drawn on the
server, the explorer's figures from the stored grid, keeping a threshold re-scores the run."""

import re

import numpy as np
import pytest
from django.urls import reverse
from sklearn import metrics as skm

from accounts.models import AuditEvent
from evaluations.models import Evaluation
from evaluations.pipeline import evaluate_run
from evaluations.reports import build_run_report
from jobs.models import Job

N = 60


@pytest.fixture
def scored_run(build):
    """A two-label run whose outputs carry probabilities of "spam"."""
    rng = np.random.default_rng(5)
    run = build.run("filter", "1.0", config={"positive_label": "spam"})
    for i in range(N):
        truth = "spam" if i % 3 == 0 else "ham"
        p = float(np.clip(rng.normal(0.65 if truth == "spam" else 0.35, 0.2), 0, 1).round(2))
        case = build.case({"label": truth}, category=f"c{i % 2}")
        output = {"label": "spam" if p >= 0.5 else "ham", "scores": {"spam": p, "ham": 1 - p}}
        build.respond(run, case, output)
    evaluate_run(run)
    return run


def _truth_and_p(run):
    y, p = [], []
    for response in run.responses.select_related("test_case").order_by("pk"):
        y.append(response.test_case.ground_truth["label"] == "spam")
        p.append(response.output_data["scores"]["spam"])
    return np.array(y), np.array(p)


def test_report_page_draws_the_probability_charts(scored_run, viewer, login):
    client = login(viewer)
    page = client.get(reverse("evaluations:run-report", args=[scored_run.pk])).content.decode()
    scores = build_run_report(scored_run)["classification"]["scores"]
    assert 'id="scores"' in page
    assert f"ROC curve (AUC {scores['roc_auc']:.3f})" in page
    assert "Precision–recall curve" in page and "Reliability diagram" in page
    # The ROC polyline holds every stored point; the reliability bins are in the table.
    roc = re.search(
        r'aria-label="ROC curve[^"]*".*?<polyline class="line" points="([^"]+)"', page, re.S
    )
    assert len(roc.group(1).split()) == len(scores["roc_curve"]["fpr"])
    assert page.count("<tr><td>0.") >= 1 and 'id="calibration"' in page
    # The explorer starts at 0.5 with the binary counts there; viewers cannot keep one.
    assert 'name="t"' in page and 'hx-get="/runs/' in page
    assert "Use 0.5 for the verdicts" not in page


def test_threshold_fragment_matches_sklearn_and_bad_values_are_400(scored_run, viewer, login):
    client = login(viewer)
    y, p = _truth_and_p(scored_run)
    url = reverse("evaluations:run-threshold", args=[scored_run.pk])
    for t in ("0.3", "0.55", "0.9"):
        response = client.get(url, {"t": t}, headers={"HX-Request": "true"})
        assert response.status_code == 200
        fragment = response.content.decode()
        assert "<html" not in fragment
        tn, fp, fn, tp = skm.confusion_matrix(y, p >= float(t), labels=[False, True]).ravel()
        cells = dict(re.findall(r"<th>(TP|FP|FN|TN)</th><td class=\"n\">([\d,]+)</td>", fragment))
        assert {k: int(v) for k, v in cells.items()} == {"TP": tp, "FP": fp, "FN": fn, "TN": tn}
        assert f"{skm.recall_score(y, p >= float(t)) * 100:.1f}%" in fragment
    assert "<html" in client.get(url, {"t": "0.4"}).content.decode()  # no htmx: a page
    assert client.get(url, {"t": "1.5"}).status_code == 400
    assert client.get(url, {"t": "abc"}).status_code == 400


def test_engineer_keeps_a_threshold_and_the_verdicts_follow(
    scored_run, engineer, viewer, login, django_capture_on_commit_callbacks
):
    url = reverse("evaluations:run-threshold-keep", args=[scored_run.pk])
    assert login(viewer).post(url, {"t": "0.7"}).status_code == 403
    client = login(engineer)
    assert client.post(url, {"t": "2"}).status_code == 400
    response = client.post(url, {"t": "0.7"})
    assert response.status_code == 302
    scored_run.refresh_from_db()
    assert scored_run.config["decision_threshold"] == 0.7
    assert scored_run.config["positive_label"] == "spam"
    assert Job.objects.filter(target_id=scored_run.pk).exists()
    assert AuditEvent.objects.filter(action="run.threshold", target_id=str(scored_run.pk)).exists()
    # Scoring again (what the queued job does) follows the kept threshold.
    evaluate_run(scored_run)
    y, p = _truth_and_p(scored_run)
    binary = build_run_report(scored_run)["classification"]["binary"]
    tn, fp, fn, tp = skm.confusion_matrix(y, p >= 0.7, labels=[False, True]).ravel()
    assert (binary["tp"], binary["fp"], binary["fn"], binary["tn"]) == (tp, fp, fn, tn)
    verdict = Evaluation.objects.filter(response__run=scored_run).first()
    assert verdict.metrics["decision_threshold"] == 0.7


def test_regression_and_multilabel_sections(build, viewer, login):
    run = build.run("price", "1.0")
    for i in range(12):
        case = build.case({"value": 100.0 + i}, output_type="regression", category=f"c{i % 2}")
        build.respond(run, case, {"value": 100.0 + i * 1.1})
    for i in range(6):
        case = build.case({"labels": ["a", "b"][: 1 + i % 2]}, output_type="multilabel")
        build.respond(run, case, {"labels": ["a"]})
    evaluate_run(run)
    page = login(viewer).get(reverse("evaluations:run-report", args=[run.pk])).content.decode()
    report = build_run_report(run)
    assert 'id="regression"' in page and 'id="multilabel"' in page
    assert "Predicted vs actual (12 sampled responses)" in page
    assert "Residuals (predicted − actual)" in page
    assert report["multilabel"]["hamming_loss"] == pytest.approx(3 / 12)


def test_multiclass_report_draws_one_roc_curve_per_label(build, viewer, login):
    """Three labels with probabilities: the page draws each label's one-vs-rest ROC curve
    (its points the report's, its colour the table's swatch); the API's report and the CSV
    download carry the same curves."""
    rng = np.random.default_rng(7)
    labels = ["cat", "dog", "owl"]
    run = build.run("animals", "1.0")
    for i in range(45):
        truth = labels[i % 3]
        weights = rng.random(3) + np.eye(3)[i % 3] * rng.random()
        scores = {label: float(w) for label, w in zip(labels, weights / weights.sum(), strict=True)}
        scores["owl"] = 1 - scores["cat"] - scores["dog"]
        case = build.case({"label": truth})
        build.respond(run, case, {"label": max(scores, key=scores.get), "scores": scores})
    evaluate_run(run)
    client = login(viewer)
    page = client.get(reverse("evaluations:run-report", args=[run.pk])).content.decode()
    per_label = build_run_report(run)["classification"]["scores"]["per_label"]
    chart = re.search(r'<figure id="ovr-roc">(.*?)</figure>', page, re.S).group(1)
    lines = re.findall(r'<polyline class="line s(\d)" points="([^"]+)"><title>(\w+)</title>', chart)
    assert [(colour, name) for colour, _, name in lines] == [
        ("0", "cat"),
        ("1", "dog"),
        ("2", "owl"),
    ]
    for _, points, name in lines:
        assert len(points.split()) == len(per_label[name]["roc_curve"]["fpr"]) > 2
    assert page.count('<span class="swatch s') == 3
    api = client.get(f"/api/v1/runs/{run.pk}/report/").json()
    assert (
        api["classification"]["scores"]["per_label"]["dog"]["roc_curve"]
        == per_label["dog"]["roc_curve"]
    )
    csv = client.get(reverse("evaluations:run-report", args=[run.pk]), {"format": "csv"})
    rows = [line.split(",") for line in csv.content.decode().splitlines()]
    owl_fpr = [
        float(r[5])
        for r in rows
        if r[:3] == ["roc_curve_per_label", "label_match", "owl"] and r[4] == "fpr"
    ]
    assert owl_fpr == per_label["owl"]["roc_curve"]["fpr"]
