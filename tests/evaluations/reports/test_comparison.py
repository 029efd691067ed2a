"""Run comparison: counts by hand, McNemar and Holm against statsmodels, the bootstrap against
scipy with explicit arguments, the MDE by hand."""

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from evaluations import stats
from evaluations.reports import compare_runs, comparison_cases

# case key -> (category, passed in A or None when absent, passed in B or None)
PAIRS = {
    1: ("alpha", True, None),  # only in A
    2: ("alpha", True, True),
    3: ("alpha", True, True),
    4: ("alpha", True, False),  # regression
    5: ("alpha", True, False),  # regression
    6: ("beta", True, False),  # regression
    7: ("beta", False, True),  # improvement
    8: ("beta", False, False),
    9: ("beta", None, False),  # only in B
}
# Continuous token_f1 scores per case (A, B) for the bootstrap.
F1 = {2: (0.9, 0.8), 3: (0.7, 0.75), 4: (0.6, 0.2), 5: (0.55, 0.1), 6: (0.8, 0.4), 7: (0.3, 0.9)}


@pytest.fixture
def runs(build):
    cases = {
        key: build.case({"label": "a"}, category=category) for key, (category, *_) in PAIRS.items()
    }
    run_a = build.run("m", "1.0", config={"selection": {"category": "alpha"}})
    run_b = build.run("m", "2.0", config={"selection": {"category": "beta"}})
    for key, (_, in_a, in_b) in PAIRS.items():
        for run, passed, side in ((run_a, in_a, 0), (run_b, in_b, 1)):
            if passed is None:
                continue
            response = build.respond(run, cases[key], {})
            build.verdict(response, "label_match", 1.0 if passed else 0.0, passed)
            if key in F1:
                build.verdict(response, "token_f1", F1[key][side])
    return run_a, run_b, cases


def test_paired_counts_rates_and_deltas(runs):
    run_a, run_b, _ = runs
    figures = compare_runs(run_a, run_b)["evaluators"]["label_match"]
    assert {k: figures[k] for k in ("paired", "both_passed", "both_failed")} == {
        "paired": 7,
        "both_passed": 2,
        "both_failed": 1,
    }
    assert (figures["regressions"], figures["improvements"]) == (3, 1)
    assert (figures["only_in_a"], figures["only_in_b"]) == (1, 1)
    # Over the intersection: A passed 5 of 7, B 3 of 7.
    assert figures["pass_rate_a"] == pytest.approx(5 / 7)
    assert figures["pass_rate_b"] == pytest.approx(3 / 7)
    assert figures["pass_rate_delta"] == pytest.approx(-2 / 7)
    assert figures["mean_score_a"] == pytest.approx(5 / 7)
    assert figures["mean_score_delta"] == pytest.approx(-2 / 7)


def test_mcnemar_matches_statsmodels(runs):
    run_a, run_b, _ = runs
    figures = compare_runs(run_a, run_b)["evaluators"]["label_match"]
    table = [[2, 3], [1, 1]]  # rows A passed/failed, columns B passed/failed
    assert figures["mcnemar_p"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert figures["mcnemar_p"] == pytest.approx(0.625)


def percentile_bootstrap(deltas: list[float]) -> list[float]:
    """The contract with scipy's explicit arguments: the sorted deltas, 10,000 resamples,
    the fixed seed, a percentile 95% interval."""
    interval = sps.bootstrap(
        (np.sort(deltas),),
        np.mean,
        n_resamples=10_000,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(stats.BOOTSTRAP_SEED),
    ).confidence_interval
    return [float(interval.low), float(interval.high)]


def test_bootstrap_interval_is_seeded_and_says_its_method(runs):
    run_a, run_b, _ = runs
    first = compare_runs(run_a, run_b)["evaluators"]["token_f1"]
    second = compare_runs(run_a, run_b)["evaluators"]["token_f1"]
    assert first["bootstrap_ci95"] == second["bootstrap_ci95"]
    assert first["bootstrap_method"] == "percentile"
    deltas = [b - a for a, b in F1.values()]
    assert first["bootstrap_ci95"] == pytest.approx(percentile_bootstrap(deltas), rel=1e-12)
    low, high = first["bootstrap_ci95"]
    assert min(deltas) <= low <= first["mean_score_delta"] <= high <= max(deltas)
    assert first["mean_score_delta"] == pytest.approx(sum(deltas) / len(deltas))
    labels = compare_runs(run_a, run_b)["evaluators"]["label_match"]
    assert labels["bootstrap_ci95"] == pytest.approx(
        percentile_bootstrap([0, 0, -1, -1, -1, 1, 0]), rel=1e-12
    )
    assert labels["bootstrap_method"] == "percentile"


def test_past_the_bootstrap_limit_the_interval_comes_from_summed_moments(
    runs, monkeypatch, django_assert_max_num_queries
):
    """Past stats.BOOTSTRAP_MAX_PAIRS the deltas are not fetched: the normal-theory interval
    from the moments the comparison statement sums equals numpy's over every delta."""
    run_a, run_b, _ = runs
    monkeypatch.setattr(stats, "BOOTSTRAP_MAX_PAIRS", 6)  # token_f1: 6 pairs, label_match: 7
    # The figures, the auc block's look for probabilities, and the deltas of token_f1 only;
    # + the evaluators' trust (grading: a fingerprint, and its figures when not cached).
    with django_assert_max_num_queries(5):
        comparison = compare_runs(run_a, run_b, case_limit=0)
    f1, labels = comparison["evaluators"]["token_f1"], comparison["evaluators"]["label_match"]
    assert f1["bootstrap_method"] == "percentile"
    assert f1["bootstrap_ci95"] == pytest.approx(
        percentile_bootstrap([b - a for a, b in F1.values()]), rel=1e-12
    )
    deltas = np.array([0, 0, -1, -1, -1, 1, 0], dtype=float)
    half = 1.959963984540054 * deltas.std(ddof=1) / math.sqrt(len(deltas))
    assert labels["bootstrap_method"] == "normal"
    assert labels["bootstrap_ci95"] == pytest.approx(
        [deltas.mean() - half, deltas.mean() + half], rel=1e-12
    )
    assert labels["bootstrap_ci95"] == pytest.approx(
        list(stats.paired_bootstrap_ci(deltas, max_pairs=6)[:2]), rel=1e-12
    )
    monkeypatch.setattr(stats, "BOOTSTRAP_MAX_PAIRS", 0)
    with django_assert_max_num_queries(4):  # no delta fetched at all (2 of them: trust)
        assert (
            compare_runs(run_a, run_b, case_limit=0)["evaluators"]["token_f1"]["bootstrap_method"]
            == "normal"
        )


def test_minimum_detectable_effect(runs):
    """Connor (1987) by hand: 7 pairs, 4 discordant (p_d = 4/7), alpha 0.05, power 0.8.

    sqrt(n) * delta = z_a * sqrt(p) + z_b * sqrt(p - delta**2), z_a = 1.95996, z_b = 0.84162.
    With p = p_d the root is delta = 0.67083, more than p_d: a change that large needs at
    least that much discordance, so p = delta and the root is delta = 0.78753.
    """
    run_a, run_b, _ = runs
    figures = compare_runs(run_a, run_b)["evaluators"]["label_match"]
    expected = 0.7875253067415277
    z_a, z_b = 1.959963984540054, 0.8416212335729143
    connor = z_a * math.sqrt(expected) + z_b * math.sqrt(expected - expected**2)
    assert math.sqrt(7) * expected == pytest.approx(connor, rel=1e-12)  # the root, checked
    assert figures["mde"] == pytest.approx(expected, rel=1e-9)


def test_different_selections_compare_the_intersection(runs):
    run_a, run_b, _ = runs
    comparison = compare_runs(run_a, run_b)
    assert comparison["selections_differ"] is True
    assert comparison["a"]["selection"] == {"category": "alpha"}
    assert comparison["b"]["id"] == run_b.pk
    same = compare_runs(run_a, run_a)
    assert same["selections_differ"] is False
    assert same["evaluators"]["label_match"]["paired"] == 8
    assert same["evaluators"]["label_match"]["mcnemar_p"] == 1.0
    assert same["evaluators"]["label_match"]["bootstrap_ci95"] == [0.0, 0.0]
    assert same["evaluators"]["label_match"]["bootstrap_method"] == "percentile"


def test_per_case_list_puts_regressions_first(runs):
    run_a, run_b, cases = runs
    rows = compare_runs(run_a, run_b)["cases"]
    label_rows = [row for row in rows if row["evaluator"] == "label_match"]
    order = [
        key for row in label_rows for key, case in cases.items() if case.pk == row["test_case_id"]
    ]
    assert order == [4, 5, 6, 7, 1, 9, 8, 2, 3]
    assert rows[0]["change"] == "regression"
    assert label_rows[0] == {
        "test_case_id": cases[4].pk,
        "evaluator": "label_match",
        "a_passed": True,
        "b_passed": False,
        "a_score": 1.0,
        "b_score": 0.0,
        "change": "regression",
    }
    assert label_rows[4]["b_passed"] is None  # only in A
    regressions = comparison_cases(run_a, run_b, evaluator="token_f1", change="regression")
    # token_f1 passes at 0.5: cases 4, 5 and 6 regress; biggest drop first
    assert [row["test_case_id"] for row in regressions] == [cases[5].pk, cases[6].pk, cases[4].pk]
    page = comparison_cases(run_a, run_b, evaluator="label_match", limit=2, offset=2)
    assert [row["test_case_id"] for row in page] == [cases[6].pk, cases[7].pk]
    with pytest.raises(ValueError, match="unknown change"):
        comparison_cases(run_a, run_b, change="worse")


def test_slices_holm_adjusted(runs):
    run_a, run_b, _ = runs
    slices = compare_runs(run_a, run_b)["slices"]
    label = [row for row in slices if row["evaluator"] == "label_match"]
    category = {row["value"]: row for row in label if row["dimension"] == "category"}
    assert category["alpha"]["paired"] == 4
    assert (category["alpha"]["regressions"], category["alpha"]["improvements"]) == (2, 0)
    assert category["beta"]["paired"] == 3
    raw = [row["mcnemar_p"] for row in label]
    assert [row["mcnemar_p_holm"] for row in label] == pytest.approx(
        list(multipletests(raw, method="holm")[1])
    )
    assert not any(row["significant_regression"] for row in slices)


def test_a_significant_regression_is_marked(build):
    run_a, run_b = build.run("m", "1"), build.run("m", "2")
    for i in range(40):
        case = build.case({"label": "a"}, category="hard" if i < 20 else "easy")
        for run, passed in ((run_a, True), (run_b, i >= 20)):
            build.verdict(build.respond(run, case, {}), "label_match", float(passed), passed)
    comparison = compare_runs(run_a, run_b)
    figures = comparison["evaluators"]["label_match"]
    assert figures["regressions"] == 20
    assert figures["mcnemar_p"] < 1e-5
    marked = {
        (row["dimension"], row["value"])
        for row in comparison["slices"]
        if row["significant_regression"]
    }
    assert marked == {("category", "hard"), ("model_type", "nlp"), ("difficulty", "")}


def test_comparison_of_runs_without_verdicts(build, django_assert_max_num_queries):
    run_a, run_b = build.run(), build.run()
    with django_assert_max_num_queries(2):
        comparison = compare_runs(run_a, run_b)
    assert comparison["evaluators"] == {}
    assert comparison["cases"] == []
    assert comparison["slices"] == []


@pytest.mark.django_db(transaction=True)
def test_statement_settings_hold_for_that_statement_only():
    from evaluations.reports.common import fetch
    from evaluations.reports.pairs import COMPARISON_SETTINGS

    sql = "SELECT current_setting('work_mem'), current_setting('jit')"
    default = fetch(sql, {})
    assert fetch(sql, {}, settings=COMPARISON_SETTINGS) == [("64MB", "off")]
    assert fetch(sql, {}) == default != [("64MB", "off")]
    with pytest.raises(ValueError):
        fetch(sql, {}, settings={"work_mem": "1MB'; DROP TABLE evaluations; --"})
