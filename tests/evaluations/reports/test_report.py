"""The run report's figures on small fixtures computed by hand (and against scikit-learn)."""

import datetime as dt
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from cases.models import TestCase
from evaluations.reports import build_run_report, failing_evaluations

# (ground-truth label, predicted label, category, difficulty, tags, latency, tokens, memory)
CLASSIFICATION = [
    ("cat", "cat", "animals", "easy", ["en", "short"], 10, 5, 100.0),
    ("cat", "dog", "animals", "hard", ["en"], 20, 7, 120.0),
    ("dog", "dog", "animals", "easy", [], 30, None, None),
    ("dog", "cat", "pets", "medium", ["short"], 40, 8, None),
    ("cat", "cat", "pets", "", ["en"], 50, 10, None),
]


@pytest.fixture
def classification_run(build):
    """Five answered cases and one failed call; one ai-generated reviewed, one unverified."""
    cases = []
    for i, (truth, _, category, difficulty, tags, *_) in enumerate(CLASSIFICATION):
        fields = {}
        if i == 3:
            fields["is_verified"] = False
        if i == 4:
            fields["origin"] = TestCase.Origin.AI_GENERATED
        cases.append(
            build.case(
                {"label": truth}, category=category, difficulty=difficulty, tags=tags, **fields
            )
        )
    failed_case = build.case({"label": "dog"}, category="pets", difficulty="hard", tags=["en"])
    # Registered after its cases were written, as in life.
    run = build.run(config={"selection": {"category": "animals"}, "positive_label": "cat"})
    for case, (_, predicted, *_, latency, tokens, memory) in zip(
        cases, CLASSIFICATION, strict=True
    ):
        response = build.respond(
            run,
            case,
            {"label": predicted},
            latency_ms=latency,
            tokens_used=tokens,
            memory_mb=memory,
        )
        build.judge(response, "label_match")
    failed = build.respond(run, failed_case, {}, error_message="HTTP 500")
    build.judge(failed, "label_match")
    # A case edited after the run was registered: the drift warning.
    TestCase.objects.filter(pk=cases[1].pk).update(updated_at=run.created_at + dt.timedelta(1))
    return run


def test_run_block_and_what_it_was_computed_on(classification_run):
    report = build_run_report(classification_run)
    assert report["run"]["id"] == classification_run.pk
    assert report["run"]["selection"] == {"category": "animals"}
    assert {k: report["cases"][k] for k in ("human", "ai_generated_reviewed", "unverified")} == {
        "human": 4,
        "ai_generated_reviewed": 1,
        "unverified": 1,
    }
    assert report["cases"]["edited_since_run"] == 1
    assert "1 of the 6 cases" in report["cases"]["drift_warning"]


def test_evaluator_figures(classification_run):
    figures = build_run_report(classification_run)["evaluators"]["label_match"]
    assert figures["count"] == 6
    assert figures["passed"] == 3
    assert figures["pass_rate"] == 0.5
    assert figures["mean_score"] == 0.5  # the failed call counts, with score 0
    assert figures["histogram"] == [3, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    low, high = figures["pass_rate_ci95"]
    # Wilson at p = 0.5, n = 6: 0.5 -+ 1.96 * sqrt(0.25/6 + 1.96^2/144) / (1 + 1.96^2/6)
    z = 1.959963984540054
    half = z * math.sqrt(0.25 / 6 + z * z / 144) / (1 + z * z / 6)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half))


def test_histogram_bins_of_a_tenth_with_one_in_the_last(build):
    run = build.run()
    scores = [0.0, 0.05, 0.1, 0.15, 0.55, 0.95, 0.999, 1.0]
    for score in scores:
        build.verdict(build.respond(run, build.case({"label": "a"}), {}), "fuzzy_ratio", score)
    figures = build_run_report(run)["evaluators"]["fuzzy_ratio"]
    assert figures["histogram"] == [2, 2, 0, 0, 0, 1, 0, 0, 0, 3]
    assert figures["mean_score"] == pytest.approx(sum(scores) / len(scores))
    assert figures["passed"] == 4


def test_latency_tokens_memory_errors(classification_run):
    report = build_run_report(classification_run)
    latencies = [10, 20, 30, 40, 50]
    latency = report["latency_ms"]
    assert latency["count"] == 5
    assert latency["mean"] == 30
    assert latency["max"] == 50
    # percentile_cont = linear interpolation = numpy's default method
    assert latency["p50"] == 30
    assert latency["p95"] == pytest.approx(48.0)
    assert latency["p99"] == pytest.approx(49.6)
    assert [latency[p] for p in ("p50", "p95", "p99")] == pytest.approx(
        list(np.percentile(latencies, [50, 95, 99]))
    )
    assert sum(latency["histogram"]["counts"]) + latency["histogram"]["overflow"] == 5
    assert report["tokens"] == {"total": 30, "mean": 7.5}
    assert report["memory_mb"] == {"mean": 110.0, "max": 120.0}
    assert report["errors"] == 1


def test_breakdowns_by_slice(classification_run):
    breakdowns = build_run_report(classification_run)["breakdowns"]

    def rows(dimension):
        return {row["value"]: row for row in breakdowns[dimension]}

    category = rows("category")
    assert category["animals"]["count"] == 3
    assert category["animals"]["pass_rate"] == pytest.approx(2 / 3)
    assert category["pets"]["count"] == 3
    assert category["pets"]["pass_rate"] == pytest.approx(1 / 3)
    assert category["pets"]["mean_score"] == pytest.approx(1 / 3)
    difficulty = rows("difficulty")
    assert difficulty["easy"]["pass_rate"] == 1.0
    assert difficulty["hard"]["count"] == 2
    assert difficulty["hard"]["pass_rate"] == 0.0
    assert difficulty[""]["count"] == 1  # no difficulty given
    tags = rows("tag")
    assert tags["en"]["count"] == 4  # three answered and the failed call
    assert tags["en"]["pass_rate"] == 0.5
    assert tags["short"]["pass_rate"] == 0.5
    assert rows("model_type")["nlp"]["count"] == 6
    assert {row["evaluator"] for d in breakdowns.values() for row in d} == {"label_match"}


def test_classification_block_matches_scikit_learn(classification_run):
    block = build_run_report(classification_run)["classification"]
    actual = [row[0] for row in CLASSIFICATION]
    predicted = [row[1] for row in CLASSIFICATION]
    labels = ["cat", "dog"]
    assert block["count"] == 5  # the failed call is left out of the domain block
    assert block["labels"] == labels
    expected = skm.confusion_matrix(actual, predicted, labels=labels)
    assert block["confusion_matrix"] == expected.tolist()
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        actual, predicted, labels=labels, zero_division=0
    )
    for i, label in enumerate(labels):
        assert block["per_label"][label] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]}
        )
    assert block["accuracy"] == pytest.approx(skm.accuracy_score(actual, predicted))
    assert block["macro_f1"] == pytest.approx(skm.f1_score(actual, predicted, average="macro"))
    assert block["weighted_f1"] == pytest.approx(
        skm.f1_score(actual, predicted, average="weighted")
    )
    # positive_label "cat" from the run config: rows actual, columns predicted
    assert block["binary"] == pytest.approx(
        {
            "positive_label": "cat",
            "tp": 2,
            "fn": 1,
            "fp": 1,
            "tn": 1,
            "sensitivity": 2 / 3,
            "specificity": 1 / 2,
        }
    )


def test_binary_positive_label_defaults_to_the_second_label(classification_run):
    classification_run.config = {}
    block = build_run_report(classification_run)["classification"]
    assert block["binary"]["positive_label"] == "dog"
    assert (block["binary"]["tp"], block["binary"]["fn"]) == (1, 1)


def test_integer_and_boolean_labels_fill_the_confusion_matrix(build):
    """A scikit-learn classifier's labels are integers: compared and counted as "0", "1"."""
    run = build.run(config={"positive_label": 1})
    for truth, predicted in [(0, 0), (1, {"label": 1}), (1, 0), (0, "1")]:
        build.judge(build.respond(run, build.case({"label": truth}), predicted), "label_match")
    block = build_run_report(run)["classification"]
    assert block["labels"] == ["0", "1"] and block["count"] == 4
    assert block["confusion_matrix"] == [[1, 1], [1, 1]]
    assert block["binary"]["positive_label"] == "1"


def test_three_labels_have_no_binary_block(build):
    run = build.run()
    for truth, predicted in [("a", "a"), ("b", "c"), ("c", "c")]:
        build.judge(build.respond(run, build.case({"label": truth}), predicted), "label_match")
    block = build_run_report(run)["classification"]
    assert block["labels"] == ["a", "b", "c"]
    assert block["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]
    assert block["binary"] is None
    assert build_run_report(run)["detection"] is None


def test_detection_block_pools_boxes(build):
    run = build.run(model_type="computer_vision")

    def boxes(*specs):
        return {"boxes": [{"label": label, "bbox": bbox} for label, bbox in specs]}

    a, b, c = [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]
    cases = [
        (boxes(("cat", a)), boxes(("cat", a))),  # tp 1; IoU 1
        (boxes(("cat", a), ("dog", b)), boxes(("cat", [0, 0, 10, 6]), ("bird", c))),  # IoU .6
        (boxes(("cat", a)), "garbage"),  # malformed: left out of the block
    ]
    for truth, output in cases:
        case = build.case(truth, output_type="bounding_boxes", model_type="computer_vision")
        build.judge(build.respond(run, case, output), "iou")
    report = build_run_report(run)
    assert report["evaluators"]["iou"]["count"] == 3
    detection = report["detection"]
    # pooled: tp 2 (a, a'), fp 1 (bird), fn 1 (dog)
    assert detection == pytest.approx(
        {
            "count": 2,
            "precision": 2 / 3,
            "recall": 2 / 3,
            "f1": 2 / 3,
            "mean_iou": (1.0 + 0.3) / 2,
            "iou_threshold": 0.5,
            "tp": 2,
            "fp": 1,
            "fn": 1,
        }
    )
    assert report["classification"] is None


def test_ranking_block(build):
    run = build.run(model_type="recommender")
    for ranking in (["a", "b"], ["b", "a"], ["b"], "garbage"):
        case = build.case({"relevant": ["a"]}, output_type="ranking")
        build.judge(build.respond(run, case, {"ranking": ranking}), "ndcg_at_k")
    ranking = build_run_report(run)["ranking"]
    assert ranking == pytest.approx(
        {"count": 3, "k": 10, "mean_ndcg": (1 + 1 / math.log2(3) + 0) / 3, "mrr": (1 + 0.5) / 3}
    )


def test_forecast_block_pools_points(build):
    run = build.run(model_type="time_series")
    for truth, output in (([10, 20], [12, 20]), ([0], [0]), ([1, 2], [1])):  # last: malformed
        case = build.case({"values": truth}, output_type="forecast")
        build.judge(build.respond(run, case, {"values": output}), "forecast_error")
    forecast = build_run_report(run)["forecast"]
    assert forecast == pytest.approx(
        {
            "count": 2,
            "mae": 2 / 3,
            "rmse": math.sqrt(4 / 3),
            "smape": (2 * 2 / 22) / 3,
            "points": 3,
        }
    )


def test_each_block_reads_its_own_evaluator(build):
    run = build.run()
    case = build.case({"label": "a"})
    response = build.respond(run, case, {"label": "a"})
    build.judge(response, "label_match")
    build.judge(response, "exact_match")
    report = build_run_report(run)
    assert set(report["evaluators"]) == {"exact_match", "label_match"}
    assert report["classification"]["count"] == 1


def test_empty_run(build, django_assert_max_num_queries):
    run = build.run()
    with django_assert_max_num_queries(4):  # + grading's agreement and graders blocks
        report = build_run_report(run)
    assert report["evaluators"] == {}
    assert report["latency_ms"]["count"] == 0
    assert report["latency_ms"]["p50"] is None
    assert report["tokens"] == {"total": None, "mean": None}
    assert report["errors"] == 0
    assert report["breakdowns"] == {"category": [], "difficulty": [], "model_type": [], "tag": []}
    assert all(report[block] is None for block in ("classification", "detection", "forecast"))
    assert report["cases"]["drift_warning"] is None


def test_report_query_count_does_not_grow_with_the_run(build, django_assert_max_num_queries):
    run = build.run()
    for i in range(30):
        case = build.case({"label": "ab"[i % 2]}, tags=[f"t{i % 5}"], category=f"c{i % 3}")
        response = build.respond(run, case, {"label": "a"}, latency_ms=i)
        build.judge(response, "label_match")
        build.verdict(response, "token_f1", i / 30)
        build.verdict(response, "iou", 0.5, metrics={"tp": 1, "fp": 0, "fn": 0})
    # responses, latency bins, verdicts, domain blocks, the classification's scores, agreement,
    # graders, the evaluators' trust (grading: a fingerprint, and its figures when not cached)
    with django_assert_max_num_queries(9):
        build_run_report(run)


def test_failing_cases_filter_by_evaluator_and_slice(classification_run):
    failing = failing_evaluations(classification_run)
    assert failing.count() == 3
    assert all(not e.passed for e in failing)
    assert failing_evaluations(classification_run, evaluator="exact_match").count() == 0
    assert failing_evaluations(classification_run, category="pets").count() == 2
    assert failing_evaluations(classification_run, tag="en").count() == 2
    assert failing_evaluations(classification_run, difficulty="hard", tag="en").count() == 2
    assert failing_evaluations(classification_run, difficulty="").count() == 3  # "" = no filter
    with pytest.raises(ValueError, match="colour"):
        failing_evaluations(classification_run, colour="red")


def test_selection_drift_from_the_runs_app(build, django_assert_max_num_queries):
    from runs.selection import register_run

    first = build.case({"label": "a"}, category="drift")
    second = build.case({"label": "b"}, category="drift")
    run = register_run(
        model_name="m", model_version="1", model_type="nlp", selection={"category": "drift"}
    )
    for case in (first, second):
        build.judge(build.respond(run, case, {"label": "a"}), "label_match")
    # the drift check is one fingerprint when unchanged; + grading's agreement, graders, trust
    with django_assert_max_num_queries(8):
        unchanged = build_run_report(run)["cases"]
    assert unchanged["selection_drift"] == {
        "edited": 0,
        "added": 0,
        "removed": 0,
        "deleted": 0,
        "error": None,
    }
    assert unchanged["drift_warning"] is None

    build.case({"label": "a"}, category="drift")  # the selection now matches one more
    TestCase.objects.filter(pk=first.pk).update(updated_at=run.created_at + dt.timedelta(1))
    cases = build_run_report(run)["cases"]
    assert cases["selection_drift"]["added"] == 1
    assert cases["selection_drift"]["edited"] == 1
    assert cases["edited_since_run"] == 1
    assert "1 of the 2 cases this report covers were edited" in cases["drift_warning"]
    assert "matches 1 case(s) the run does not have" in cases["drift_warning"]
    from evaluations.exports import report_rows

    rows = {(r[0], r[4]): r[5] for r in report_rows(build_run_report(run))}
    assert rows[("selection_drift", "added")] == 1
    assert rows[("cases", "edited_since_run")] == 1


def test_unknown_tokens_show_a_dash_not_0(build, login, viewer):
    """No response reported tokens: the report said "0 tokens"; now "–" (null in JSON)."""
    run = build.run()
    for i in range(3):
        build.respond(run, build.case({"label": "a"}), {"label": "a"}, latency_ms=5 + i)
    assert build_run_report(run)["tokens"]["total"] is None
    html = login(viewer).get(f"/runs/{run.pk}/report/").content.decode()
    tile = html[html.index('id="performance"') :]
    assert '<span class="num">–</span><span>tokens</span>' in tile
    build.respond(run, build.case({"label": "a"}), {"label": "a"}, tokens_used=0)
    assert build_run_report(run)["tokens"]["total"] == 0  # a reported 0 stays 0


def test_each_headline_figure_says_what_it_covers(build, login, viewer):
    """0.9366 accuracy on the well-formed vs 0.8533 pass rate on all disagreed silently."""
    run = build.run()
    outputs = [{"label": "a"}] * 3 + [{"label": "b"}] + [{"no_label": 1}]  # 1 malformed
    for output in outputs:
        build.judge(build.respond(run, build.case({"label": "a"}), output), "label_match")
    failed = build.respond(run, build.case({"label": "a"}), {}, error_message="timeout")
    build.judge(failed, "label_match")
    report = build_run_report(run)
    assert report["classification"]["accuracy"] == 0.75  # 3 of 4 well-formed
    assert report["evaluators"]["label_match"]["pass_rate"] == 0.5  # 3 of all 6
    html = login(viewer).get(f"/runs/{run.pk}/report/").content.decode()
    tile = html[html.index('id="accuracy"') :]
    tile = tile[: tile.index("</div>")]
    assert "on 4 well-formed of 6 responses" in tile
    assert "the label_match pass rate, 50" in tile and "is on all 6" in tile
    assert "of 6 verdicts" in html and 'id="pass-rate-covers"' in html
