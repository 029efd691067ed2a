"""Classic ML figures of the run report against scikit-learn, at 1e-9, on data sets shipped
with it and real fitted models: probabilities (breast_cancer, iris, digits), regression
(diabetes) and multilabel (make_multilabel_classification), through the real pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import datasets
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, label_binarize

from cases.models import TestCase
from evaluations import curves
from evaluations.exports import report_rows
from evaluations.models import Evaluation
from evaluations.pipeline import evaluate_run
from evaluations.reports import build_run_report
from runs.models import ModelRun, Response

TOL = 1e-9
CATEGORIES = ("north", "south", "east")


def _run(cases: list[dict], outputs: list, output_type: str, **config) -> ModelRun:
    """A run answering one case per ground truth with the given outputs, scored by the
    pipeline's defaults."""
    made = TestCase.objects.bulk_create(
        TestCase(
            input_data={"i": i},
            input_type="tabular",
            ground_truth=truth,
            output_type=output_type,
            model_type="tabular",
            category=CATEGORIES[i % 3],
            tags=["odd"] if i % 2 else [],
        )
        for i, truth in enumerate(cases)
    )
    run = ModelRun.objects.create(
        model_name="sk", model_version="1", model_type="tabular", status="completed", config=config
    )
    Response.objects.bulk_create(
        Response(run=run, test_case=case, output_data=output)
        for case, output in zip(made, outputs, strict=True)
    )
    evaluate_run(run)
    return run


def _scored(names: list[str], row: np.ndarray) -> dict:
    """A predict_proba row as an output: the most likely label and the distribution."""
    scores = {name: float(p) for name, p in zip(names, row, strict=True)}
    return {"label": names[int(np.argmax(row))], "scores": scores}


def _fitted(data, model, *, stratify: bool = True):
    x_train, x_test, y_train, y_test = train_test_split(
        data.data,
        data.target,
        test_size=0.35,
        random_state=0,
        stratify=data.target if stratify else None,
    )
    model.fit(x_train, y_train)
    return model, x_test, y_test


@pytest.fixture
def breast_cancer(db):
    data = datasets.load_breast_cancer()
    model, x, y = _fitted(data, make_pipeline(StandardScaler(), LogisticRegression()))
    names = list(data.target_names)  # malignant, benign
    proba = model.predict_proba(x)
    outputs = [_scored(names, row) for row in proba]
    cases = [{"label": names[t]} for t in y]
    return cases, outputs, y == 1, proba[:, 1]


def test_binary_scores_against_sklearn(breast_cancer):
    cases, outputs, y, p = breast_cancer
    run = _run(cases, outputs, "classification", positive_label="benign")
    report = build_run_report(run)
    block = report["classification"]
    scores = block["scores"]
    # Every figure is in the CSV download too.
    rows = {row[:5]: row[5] for row in report_rows(report)}
    assert rows["scores", "label_match", "", "", "roc_auc"] == scores["roc_auc"]
    assert (
        rows["calibration", "label_match", "bin", 3, "count"] == scores["calibration"][3]["count"]
    )
    assert rows["roc_curve", "label_match", "point", 5, "tpr"] == scores["roc_curve"]["tpr"][5]
    assert scores["count"] == block["count"] == len(cases)
    assert scores["positive_label"] == "benign"
    assert scores["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=TOL)
    assert scores["average_precision"] == pytest.approx(skm.average_precision_score(y, p), abs=TOL)
    assert scores["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=TOL)
    assert scores["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=TOL)
    # The curves, undownsampled at this size, are scikit-learn's points.
    fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(scores["roc_curve"]["fpr"], fpr, atol=TOL)
    np.testing.assert_allclose(scores["roc_curve"]["tpr"], tpr, atol=TOL)
    precision, recall, _ = skm.precision_recall_curve(y, p)
    np.testing.assert_allclose(scores["pr_curve"]["precision"], precision[::-1], atol=TOL)
    np.testing.assert_allclose(scores["pr_curve"]["recall"], recall[::-1], atol=TOL)
    # Reliability: scikit-learn's non-empty bins, the count per bin, and ECE from them.
    true, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    filled = [row for row in scores["calibration"] if row["count"]]
    assert len(scores["calibration"]) == 10
    np.testing.assert_allclose([r["fraction_positive"] for r in filled], true, atol=TOL)
    np.testing.assert_allclose([r["mean_predicted"] for r in filled], predicted, atol=TOL)
    ids = np.searchsorted(np.linspace(0, 1, 11)[1:-1], p)
    assert [r["count"] for r in scores["calibration"]] == np.bincount(ids, minlength=10).tolist()
    counts = np.bincount(ids, minlength=10)[np.bincount(ids, minlength=10) > 0]
    assert scores["ece"] == pytest.approx(
        float(np.sum(counts / len(p) * np.abs(true - predicted))), abs=TOL
    )
    # The threshold grid: the confusion counts when p >= t is called benign.
    grid = scores["thresholds"]
    for step in (0, 13, 50, 87, 100):
        t = grid["thresholds"][step]
        tn, fp, fn, tp = skm.confusion_matrix(y, p >= t, labels=[False, True]).ravel()
        assert (grid["tp"][step], grid["fp"][step]) == (tp, fp)
        assert grid["positives"] - grid["tp"][step] == fn
        assert grid["negatives"] - grid["fp"][step] == tn


def test_mixed_scores_confidence_and_malformed(breast_cancer):
    """Outputs with a distribution, with only a confidence, with neither, and malformed
    scores: covered counts are stated, malformed ones are output errors, nothing raises."""
    cases, outputs, y, p = breast_cancer
    outputs = [dict(output) for output in outputs]
    for i in range(0, 40, 4):  # a confidence of the predicted label instead of scores
        label = outputs[i]["label"]
        outputs[i] = {"label": label, "confidence": outputs[i]["scores"][label]}
    for i in range(1, 40, 4):  # the label alone
        outputs[i] = {"label": outputs[i]["label"]}
    malformed = {
        2: {"label": "benign", "scores": {"benign": 0.7, "malignant": 0.2}},  # sums to 0.9
        6: {"label": "benign", "scores": {"benign": 1.2, "malignant": -0.2}},  # negative
        10: {"label": "benign", "scores": {"benign": 1.0}},  # the expected label may be missing
        14: {"label": "benign", "scores": {"malignant": 1.0}},  # the predicted one is missing
        18: {"label": "benign", "scores": ["0.5", 0.5]},  # not an object
    }
    for i, output in malformed.items():
        outputs[i] = output
    run = _run(cases, outputs, "classification", positive_label="benign")
    report = build_run_report(run)
    label_only = set(range(1, 40, 4))
    errors = {i for i in malformed if cases[i]["label"] != "benign" or i != 10}
    covered = [i for i in range(len(cases)) if i not in label_only and i not in errors]
    block = report["classification"]
    assert block["count"] == len(cases) - len(errors)
    assert block["scores"]["count"] == len(covered)
    p_covered = np.array(
        [
            p[i]
            if i not in range(0, 40, 4)
            else (
                outputs[i]["confidence"]
                if outputs[i]["label"] == "benign"
                else 1 - outputs[i]["confidence"]
            )
            for i in covered
        ]
    )
    if 10 in covered:  # {"benign": 1.0} for a benign case is well-formed
        p_covered[covered.index(10)] = 1.0
    assert block["scores"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y[covered], p_covered), abs=TOL
    )

    def error(i: int) -> str:
        verdict = Evaluation.objects.get(
            response__run=run, response__test_case__input_data={"i": i}
        )
        return verdict.metrics.get("error")

    assert error(2) == '"scores" must sum to 1, got 0.9'
    assert error(6) == '"scores"["benign"] must be a probability in [0, 1], got 1.2'
    assert error(14) == '"scores" has no probability for the predicted "benign"'
    assert error(18) == '"scores" must be an object of label: probability, got array'
    assert report["evaluators"]["label_match"]["count"] == len(cases)


@pytest.mark.parametrize("loader", [datasets.load_iris, datasets.load_digits])
def test_multiclass_scores_against_sklearn(db, loader):
    data = loader()
    model, x, y = _fitted(data, make_pipeline(StandardScaler(), LogisticRegression(C=0.05)))
    proba = model.predict_proba(x)
    names = [str(c) for c in model.classes_]
    outputs = [_scored(names, row) for row in proba]
    run = _run([{"label": str(t)} for t in y], outputs, "classification")
    report = build_run_report(run)
    scores = report["classification"]["scores"]
    assert scores["kind"] == "multiclass"
    assert scores["count"] == len(y)
    assert scores["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr"), abs=TOL
    )
    assert scores["roc_auc_weighted"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="weighted"), abs=TOL
    )
    onehot = np.eye(len(names))[y]
    assert scores["average_precision"] == pytest.approx(
        skm.average_precision_score(onehot, proba), abs=TOL
    )
    assert scores["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=TOL)
    assert scores["brier"] == pytest.approx(skm.brier_score_loss(y, proba), abs=TOL)
    # One-vs-rest ROC curve per label: scikit-learn's points (label_binarize), downsampled to
    # at most OVR_CURVE_POINTS (digits has more distinct scores than that, iris fewer).
    binarized = label_binarize(y, classes=range(len(names)))
    csv_rows = {row[:5]: row[5] for row in report_rows(report)}
    for k, name in enumerate(names):
        figures = scores["per_label"][name]
        assert figures["roc_auc"] == pytest.approx(skm.roc_auc_score(y == k, proba[:, k]), abs=TOL)
        fpr, tpr, _ = skm.roc_curve(binarized[:, k], proba[:, k], drop_intermediate=False)
        kept = curves.downsample(fpr.size, curves.OVR_CURVE_POINTS)
        assert len(figures["roc_curve"]["fpr"]) == len(kept) <= curves.OVR_CURVE_POINTS
        np.testing.assert_allclose(figures["roc_curve"]["fpr"], fpr[kept], atol=TOL)
        np.testing.assert_allclose(figures["roc_curve"]["tpr"], tpr[kept], atol=TOL)
        last = len(kept) - 1
        assert csv_rows["roc_curve_per_label", "label_match", name, last, "tpr"] == tpr[kept][-1]
    assert (loader is datasets.load_digits) == (fpr.size > curves.OVR_CURVE_POINTS)
    # Top-label calibration: the predicted label's probability against being right.
    true, predicted = calibration_curve(proba.argmax(1) == y, proba.max(1), n_bins=10)
    filled = [row for row in scores["calibration"] if row["count"]]
    np.testing.assert_allclose([r["fraction_positive"] for r in filled], true, atol=TOL)
    np.testing.assert_allclose([r["mean_predicted"] for r in filled], predicted, atol=TOL)


def test_curves_are_bounded_at_any_size():
    rng = np.random.default_rng(3)
    p = rng.random(200_000)
    y = rng.random(p.size) < p
    block = curves.binary_block(y, p, "1")
    assert len(block["roc_curve"]["fpr"]) <= curves.CURVE_POINTS
    assert len(block["pr_curve"]["recall"]) <= curves.CURVE_POINTS
    assert (block["roc_curve"]["fpr"][0], block["roc_curve"]["fpr"][-1]) == (0.0, 1.0)
    assert block["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=TOL)
    assert block["average_precision"] == pytest.approx(skm.average_precision_score(y, p), abs=TOL)


def test_regression_against_sklearn(db):
    data = datasets.load_diabetes()
    model, x, y = _fitted(data, LinearRegression(), stratify=False)
    predicted = model.predict(x)
    run = _run(
        [{"value": float(v)} for v in y], [{"value": float(v)} for v in predicted], "regression"
    )
    report = build_run_report(run)
    block = report["regression"]
    assert block["count"] == len(y)
    rows = {row[:5]: row[5] for row in report_rows(report)}
    assert rows["regression", "numeric_tolerance", "", "", "r2"] == block["r2"]
    assert block["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted), abs=TOL)
    assert block["rmse"] == pytest.approx(skm.root_mean_squared_error(y, predicted), abs=TOL)
    assert block["r2"] == pytest.approx(skm.r2_score(y, predicted), abs=TOL)
    assert block["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, predicted), abs=TOL)
    assert block["median_abs_error"] == pytest.approx(
        skm.median_absolute_error(y, predicted), abs=TOL
    )
    # By slice: each category's figures are scikit-learn's on its cases; tags count each tag.
    index = np.arange(len(y))
    for row in block["breakdowns"]["category"]:
        part = index % 3 == CATEGORIES.index(row["value"])
        assert row["count"] == part.sum()
        assert row["r2"] == pytest.approx(skm.r2_score(y[part], predicted[part]), abs=TOL)
        assert row["rmse"] == pytest.approx(
            skm.root_mean_squared_error(y[part], predicted[part]), abs=TOL
        )
    (odd,) = block["breakdowns"]["tag"]
    part = index % 2 == 1
    assert (odd["value"], odd["count"]) == ("odd", part.sum())
    assert odd["mae"] == pytest.approx(skm.mean_absolute_error(y[part], predicted[part]), abs=TOL)
    # Charts: every residual in the histogram, the scatter's points are real pairs.
    residuals = predicted - y
    histogram = block["residual_histogram"]
    assert sum(histogram["counts"]) == len(y)
    assert histogram["low"] == pytest.approx(residuals.min())
    assert histogram["high"] == pytest.approx(residuals.max())
    expected = np.histogram(residuals, bins=20, range=(histogram["low"], histogram["high"]))[0]
    assert np.abs(np.array(histogram["counts"]) - expected).sum() <= 2  # edge rounding
    pairs = set(zip(y.tolist(), predicted.tolist(), strict=True))
    scatter = block["scatter"]
    assert 0 < len(scatter["actual"]) <= 500
    assert all(pair in pairs for pair in zip(scatter["actual"], scatter["predicted"], strict=True))


def test_regression_mape_undefined_and_constant_actuals(db):
    run = _run([{"value": 0.0}, {"value": 0.0}], [{"value": 0.0}, {"value": 1.0}], "regression")
    block = build_run_report(run)["regression"]
    assert block["mape"] is None
    assert block["r2"] == skm.r2_score([0.0, 0.0], [0.0, 1.0]) == 0.0
    assert block["mae"] == 0.5


def test_multilabel_against_sklearn(db):
    x, y = datasets.make_multilabel_classification(
        n_samples=400, n_classes=6, n_labels=2, random_state=1, allow_unlabeled=True
    )
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, random_state=0)
    model = OneVsRestClassifier(LogisticRegression(max_iter=500)).fit(x_train, y_train)
    predicted = model.predict(x_test)
    names = [f"topic{k}" for k in range(6)]

    def labels(row):
        return {"labels": [names[k] for k in np.flatnonzero(row)]}

    run = _run([labels(r) for r in y_test], [labels(r) for r in predicted], "multilabel")
    report = build_run_report(run)
    block = report["multilabel"]
    assert ("multilabel", "multilabel_f1", "", "", "macro_f1", block["macro_f1"]) in set(
        report_rows(report)
    )
    # The label matrix's columns: every label seen (all six here).
    seen = sorted(set(np.flatnonzero(y_test.any(0) | predicted.any(0))))
    assert block["labels"] == len(seen) == 6
    assert block["count"] == len(y_test)
    for average in ("micro", "macro"):
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            expected = fn(y_test, predicted, average=average, zero_division=0)
            assert block[f"{average}_{name}"] == pytest.approx(expected, abs=TOL)
    assert block["hamming_loss"] == pytest.approx(skm.hamming_loss(y_test, predicted), abs=TOL)
    assert block["subset_accuracy"] == pytest.approx(skm.accuracy_score(y_test, predicted), abs=TOL)
    support = y_test.sum(0)
    assert [block["per_label"][n]["support"] for n in names] == support.tolist()
