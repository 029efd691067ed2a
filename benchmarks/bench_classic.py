"""ROC AUC, PR curve and calibration of 1,000,000 scored binary responses (issue 21).

The report's ``classification.scores`` block (:func:`evaluations.reports.scores.scores_block`:
the probabilities read from PostgreSQL's narrow ``label_scores`` table in one binary
statement, then ROC and PR curves, AUC, average precision, log loss, Brier, calibration bins
and the threshold grid) against scikit-learn's ``roc_auc_score`` + ``precision_recall_curve``
+ ``calibration_curve`` on the same arrays already in memory. Goal: the report within 1.5x of
scikit-learn, i.e. reading the scores from the database is nearly free. For the record: the
same pairs read the way the report did before ``label_scores`` (joining responses, decoding
each verdict's JSON), checked equal to the table's; what writing the table costs (a run's 1M
rows derived again from their verdicts, the statement the triggers run per scoring chunk);
DeLong's test of two such runs (the comparison's ``auc`` block).

    make bench BENCH=benchmarks/bench_classic.py   # or: BENCH_RESPONSES=200000 python ...

BENCH_REPEATS (default 3) takes the best of that many calls of each measurement (scikit-learn's
and the report's in turn); BENCH_REUSE=1
measures the runs a previous call generated (about 7 minutes for 2 x 1,000,000 on 2 cores).
"""

import importlib
import time

from _common import env_int, peak_memory_mb, report
from django.db import connection
from sklearn.calibration import calibration_curve
from sklearn.metrics import precision_recall_curve, roc_auc_score

from evaluations.reports.auc_comparison import auc_comparison
from evaluations.reports.common import fetch_arrays
from evaluations.reports.scores import positive_scores, scores_block
from runs.models import ModelRun

GOAL = 1.5

# The report's read before label_scores: each verdict's JSON, joined to the run's responses.
FROM_VERDICTS_SQL = """
SELECT array_agg(CASE WHEN e.metrics ? 'scores'
                      THEN coalesce((e.metrics->'scores'->>%(positive)s)::float8, 0)
                      WHEN e.metrics->>'predicted' = %(positive)s
                      THEN (e.metrics->>'confidence')::float8
                      ELSE 1 - (e.metrics->>'confidence')::float8 END ORDER BY e.id),
       array_agg(e.metrics->>'actual' = %(positive)s ORDER BY e.id)
FROM evaluations e JOIN responses r ON r.id = e.response_id
WHERE r.run_id = %(run)s AND e.evaluator_type = 'label_match' AND NOT (e.metrics ? 'error')
  AND (e.metrics ? 'scores' OR jsonb_typeof(e.metrics->'confidence') = 'number')
"""


def execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def make_cases(n: int) -> None:
    execute("TRUNCATE test_cases, model_runs CASCADE")
    execute(
        """
        INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, output_type,
            model_type, category, tags, difficulty, origin, is_verified, metadata)
        SELECT jsonb_build_object('text', 'mail ' || i), 'text', '',
            jsonb_build_object('label', CASE WHEN i %% 3 = 0 THEN 'spam' ELSE 'ham' END),
            'classification', 'bench', 'category' || (i %% 12), ARRAY['t' || (i %% 20)],
            'easy', 'human', true, '{}'
        FROM generate_series(1, %(n)s) i
        """,
        {"n": n},
    )


def make_run(version: str, spread: float) -> ModelRun:
    """A run answering every case with a two-label distribution (6 decimals, as a JSON
    float of a real model would be) and label_match's verdict, as the pipeline stores it."""
    run = ModelRun.objects.create(
        model_name="bench-spam",
        model_version=version,
        model_type="bench",
        status="completed",
        config={"positive_label": "spam"},
    )
    execute(
        """
        INSERT INTO responses (run_id, test_case_id, output_data, latency_ms, error_message)
        SELECT %(run)s, c.id,
               jsonb_build_object('label', CASE WHEN s.p >= 0.5 THEN 'spam' ELSE 'ham' END,
                                  'scores', jsonb_build_object('spam', s.p, 'ham', 1 - s.p)),
               10, ''
        FROM test_cases c,
             LATERAL (SELECT round(least(1, greatest(0,
                 CASE WHEN c.ground_truth->>'label' = 'spam' THEN 0.62 ELSE 0.38 END
                 + %(spread)s * (random() + random() + random() - 1.5)))::numeric, 6)::float8
                 AS p) s
        """,
        {"run": run.pk, "spread": spread},
    )
    execute(
        """
        INSERT INTO evaluations (response_id, evaluator_type, score, passed, metrics, feedback)
        SELECT r.id, 'label_match', ok::int, ok,
               jsonb_build_object('predicted', r.output_data->>'label',
                   'actual', c.ground_truth->>'label', 'confidence', null,
                   'scores', r.output_data->'scores', 'evaluator_version', '2',
                   'params', '{"ignore_case": false}'::jsonb),
               ''
        FROM responses r JOIN test_cases c ON c.id = r.test_case_id,
             LATERAL (SELECT r.output_data->>'label' = c.ground_truth->>'label' AS ok) v
        WHERE r.run_id = %(run)s
        """,
        {"run": run.pk},
    )
    execute("ANALYZE responses; ANALYZE evaluations")
    execute("VACUUM ANALYZE label_scores")  # a string of one statement: VACUUM runs in none
    return run


def refill_label_scores(run_id: int) -> None:
    """The run's label_scores rows deleted and derived again from its verdicts: the triggers'
    statement (migration 0011's), over the whole run at once."""
    migration = importlib.import_module("evaluations.migrations.0011_label_scores")
    rows = migration.ROWS_SQL.format(source="evaluations")
    execute("DELETE FROM label_scores WHERE run_id = %s", [run_id])
    execute(f"INSERT INTO label_scores {migration.COLUMNS} {rows} AND r.run_id = %s", [run_id])


def best(repeats: int, function) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return round(min(times), 3), result


def interleaved(repeats: int, **functions) -> dict[str, tuple[float, object]]:
    """The best of ``repeats`` calls of each function, called in turn (a, b, a, b, ...): on a
    shared machine the load moves, and each side sees the same moves."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            results[name] = function()
            times[name].append(time.perf_counter() - start)
    return {name: (round(min(times[name]), 3), results[name]) for name in functions}


def main() -> None:
    n = env_int("BENCH_RESPONSES", 1_000_000)
    repeats = env_int("BENCH_REPEATS", 3)
    start = time.perf_counter()
    runs = list(ModelRun.objects.filter(model_name="bench-spam").order_by("pk"))
    if env_int("BENCH_REUSE", 0) and len(runs) == 2:  # the runs of a previous call
        run_a, run_b = runs
    else:
        make_cases(n)
        run_a = make_run("1.0", 0.5)
        run_b = make_run("2.0", 0.6)
    generated = round(time.perf_counter() - start, 1)

    p, y = positive_scores(run_a.pk, "spam")

    def sklearn() -> float:
        auc = roc_auc_score(y, p)
        precision_recall_curve(y, p)
        calibration_curve(y, p, n_bins=10)
        return auc

    measured = interleaved(
        repeats, sklearn=sklearn, report=lambda: scores_block(run_a.pk, ["ham", "spam"], "spam")
    )
    (sklearn_s, sklearn_auc), (report_s, block) = measured["sklearn"], measured["report"]
    read_s, _ = best(repeats, lambda: positive_scores(run_a.pk, "spam"))
    params = {"run": run_a.pk, "positive": "spam"}
    verdicts_s, (p_json, y_json) = best(1, lambda: fetch_arrays(FROM_VERDICTS_SQL, params))
    # The same pairs as the verdicts' JSON (the table keeps no verdict order: compare sorted).
    assert sorted(zip(p, y, strict=True)) == sorted(zip(p_json, y_json.astype(bool), strict=True))
    delong_s, auc = best(repeats, lambda: auc_comparison(run_a, run_b))
    fill_s, _ = best(1, lambda: refill_label_scores(run_b.pk))
    assert abs(block["roc_auc"] - sklearn_auc) < 1e-9
    report(
        "classic",
        {
            "responses": int(p.size),
            "generate_s": generated,
            "sklearn_roc_auc_pr_curve_calibration_s": sklearn_s,
            "report_scores_block_s": report_s,
            "of_which_reading_scores_s": read_s,
            "reading_from_verdict_json_before_s": verdicts_s,
            "ratio": round(report_s / sklearn_s, 2),
            "goal": GOAL,
            "roc_curve_points": len(block["roc_curve"]["fpr"]),
            "label_scores_write_s": fill_s,
            "comparison_auc_delong_s": delong_s,
            "delong_delta": round(auc["delta"], 5),
            "delong_p": auc["p_value"],
            "peak_memory_mb": peak_memory_mb(),
        },
    )


if __name__ == "__main__":
    main()
