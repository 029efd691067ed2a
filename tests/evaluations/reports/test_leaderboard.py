"""Leaderboard: grouping by model type and selection, ranking, intervals, trends."""

import numpy as np
import pytest

from evaluations import stats
from evaluations.reports import build_leaderboard

GOLDEN = {"scope": "golden", "category": "sentiment"}


@pytest.fixture
def board_runs(build):
    """Three sentiment versions, one other selection, one vision run, one unscored run."""

    def scored(name, version, passes, total=4, selection=GOLDEN, model_type="nlp", latency=0):
        run = build.run(name, version, model_type=model_type, config={"selection": selection})
        for i in range(total):
            case = build.case({"label": "a"}, model_type=model_type)
            response = build.respond(
                run, case, {}, latency_ms=latency + i, tokens_used=10 if i == 0 else None
            )
            build.verdict(response, "label_match", float(i < passes), i < passes)
        return run

    runs = {
        "s1": scored("sent", "1.0", 2),
        "s2": scored("sent", "1.1", 4, latency=100),
        "s3": scored("sent", "2.0", 1),
        "other": scored("rival", "0.1", 3),
        "wide": scored("sent", "1.0", 1, selection={"scope": "all"}),
        "vision": scored("det", "1", 2, model_type="computer_vision"),
    }
    runs["unscored"] = build.run("sent", "3.0", config={"selection": GOLDEN})
    return runs


def group(board, model_type, selection):
    (found,) = [
        g for g in board["groups"] if g["model_type"] == model_type and g["selection"] == selection
    ]
    return found


def test_groups_by_model_type_and_selection(board_runs, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        board = build_leaderboard()
    keys = {(g["model_type"], g["selection_label"]) for g in board["groups"]}
    assert keys == {
        ("nlp", "category=sentiment · scope=golden"),
        ("nlp", "scope=all"),
        ("computer_vision", "category=sentiment · scope=golden"),
    }
    assert board["model_types"] == ["computer_vision", "nlp"]


def test_ranked_by_pass_rate_with_interval(board_runs):
    golden = group(build_leaderboard(), "nlp", GOLDEN)
    assert golden["evaluator"] == "label_match"
    ids = [row["run"]["id"] for row in golden["runs"]]
    expected = [board_runs[k].pk for k in ("s2", "other", "s1", "s3")]
    assert ids == expected
    assert [row["rank"] for row in golden["runs"]] == [1, 2, 3, 4]
    top = golden["runs"][0]
    assert top["pass_rate"] == 1.0
    assert top["pass_rate_ci95"] == list(stats.wilson_interval(4, 4))
    assert top["latency_p95"] == pytest.approx(np.percentile([100, 101, 102, 103], 95))
    assert (top["tokens_total"], top["tokens_mean"]) == (10, 10.0)
    assert board_runs["unscored"].pk not in ids  # nothing to rank


def test_trends_by_model_name_in_registration_order(board_runs):
    golden = group(build_leaderboard(), "nlp", GOLDEN)
    trends = {t["model_name"]: t["points"] for t in golden["trends"]}
    assert [(p["model_version"], p["pass_rate"]) for p in trends["sent"]] == [
        ("1.0", 0.5),
        ("1.1", 1.0),
        ("2.0", 0.25),
    ]
    assert [p["model_version"] for p in trends["rival"]] == ["0.1"]


def test_chosen_evaluator_and_filter(board_runs, build):
    extra = build.respond(board_runs["s3"], build.case({"label": "a"}), {})
    build.verdict(extra, "exact_match", 1.0, True)
    board = build_leaderboard(model_type="nlp", evaluator="exact_match")
    assert {g["model_type"] for g in board["groups"]} == {"nlp"}
    golden = group(board, "nlp", GOLDEN)
    assert golden["evaluator"] == "exact_match"
    assert golden["runs"][0]["run"]["id"] == board_runs["s3"].pk
    assert [row["rank"] for row in golden["runs"]] == [1, None, None, None]  # no verdicts: unranked
    wide = group(board, "nlp", {"scope": "all"})
    assert wide["evaluator"] == "label_match"  # the group has no exact_match: its own evaluator


def test_empty_leaderboard(db):
    assert build_leaderboard()["groups"] == []
