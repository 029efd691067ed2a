"""Scoring 1,000,000 responses with label_match through the pipeline (``evaluate_run``), next
to the database's own limit measured in the same run: one SQL ``INSERT ... SELECT`` that
computes the same label comparison over the same rows and writes the same evaluation rows.
Goal: the pipeline at >= 0.3 of that rate, end to end. Then the pure-Python rate of every
evaluator on small realistic inputs, so the costly ones are visible.

    make bench            # or: BENCH_RESPONSES=200000 python benchmarks/bench_evaluate.py
    BENCH_RESCORE=1 ...   # also time scoring the same rows again (replacing every verdict)

About 4 minutes on 2 idle cores at the default 1,000,000 responses (a third of it is
creating the million cases and responses).
"""

import json
import random
import time

from _common import env_int, peak_memory_mb, report, timed
from django.db import DatabaseError, connection, transaction

from evaluations.evaluators import REGISTRY, run_evaluator, validate_params
from evaluations.models import Evaluation
from evaluations.pipeline import evaluate_run
from runs.models import ModelRun

LABELS = ["cat", "dog", "bird", "car", "ship", "horse", "frog", "truck"]
GOAL = 0.3

# The label comparison of label_match, in SQL: the same score, passed, metrics and feedback
# for a well-formed output, and the failed-call verdict for a response whose call failed.
SQL_BASELINE = """
    INSERT INTO evaluations (response_id, evaluator_type, score, passed, metrics, feedback)
    SELECT r.id, 'label_match',
        CASE WHEN r.error_message = '' AND r.output_data->>'label' = c.ground_truth->>'label'
             THEN 1.0 ELSE 0.0 END,
        r.error_message = '' AND r.output_data->>'label' = c.ground_truth->>'label',
        CASE WHEN r.error_message <> ''
             THEN jsonb_build_object('error', r.error_message, 'call_failed', true,
                                     'evaluator_version', %(version)s, 'params', %(params)s::jsonb)
             ELSE jsonb_build_object('predicted', r.output_data->>'label',
                                     'actual', c.ground_truth->>'label',
                                     'confidence', r.output_data->'confidence',
                                     'evaluator_version', %(version)s,
                                     'params', %(params)s::jsonb) END,
        CASE WHEN r.error_message <> '' THEN 'The model call failed: ' || r.error_message || '.'
             WHEN r.output_data->>'label' = c.ground_truth->>'label'
             THEN format('Predicted label "%%s" is correct.', r.output_data->>'label')
             ELSE format('Predicted label "%%s", expected "%%s".',
                         r.output_data->>'label', c.ground_truth->>'label') END
    FROM responses r JOIN test_cases c ON c.id = r.test_case_id
    WHERE r.run_id = %(run)s
    ON CONFLICT (response_id, evaluator_type, grader_id) DO UPDATE SET
        score = EXCLUDED.score, passed = EXCLUDED.passed, metrics = EXCLUDED.metrics,
        feedback = EXCLUDED.feedback, created_at = now()
"""


def execute(sql: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def make_run(n: int) -> ModelRun:
    """n classification cases and one run answering all of them: 80% right, 1% failed calls."""
    execute("TRUNCATE test_cases, model_runs CASCADE")
    execute(
        """
        INSERT INTO test_cases (input_data, input_type, input_format, ground_truth, output_type,
            model_type, category, tags, difficulty, origin, is_verified, metadata)
        SELECT jsonb_build_object('text', 'review number ' || i), 'text', '',
            jsonb_build_object('label', (%(labels)s::text[])[1 + i %% 8]), 'classification',
            'bench', 'bench', '{}', 'easy', 'human', true, '{}'
        FROM generate_series(1, %(n)s) i
        """,
        {"n": n, "labels": LABELS},
    )
    run = ModelRun.objects.create(
        model_name="bench", model_version="1", model_type="bench", total_cases=n
    )
    execute(
        """
        INSERT INTO responses (run_id, test_case_id, output_data, latency_ms, error_message)
        SELECT %(run)s, c.id,
            CASE WHEN c.id %% 100 = 0 THEN '{}'::jsonb
                 ELSE jsonb_build_object(
                    'label', CASE WHEN random() < 0.8 THEN c.ground_truth->>'label'
                                  ELSE (%(labels)s::text[])[1 + (random() * 7)::int] END,
                    'confidence', round(random()::numeric, 3)::float8) END,
            (random() * 50)::int,
            CASE WHEN c.id %% 100 = 0 THEN 'HTTP 503 from the model endpoint' ELSE '' END
        FROM test_cases c ORDER BY c.id
        """,
        {"run": run.pk, "labels": LABELS},
    )
    execute("VACUUM ANALYZE test_cases")
    execute("VACUUM ANALYZE responses")
    return run


def fresh_evaluations() -> None:
    """An empty evaluations table and no pending checkpoint, before each timed path."""
    execute("TRUNCATE evaluations")
    try:
        with transaction.atomic():
            execute("CHECKPOINT")  # superusers (and pg_checkpoint) only: fine to skip
    except DatabaseError:
        pass


def differing_rows(run: ModelRun) -> int:
    """Rows of the pipeline that differ from the SQL baseline's (jsonb compares numbers by
    value, so 1 and 1.0 agree)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM bench_baseline b
            FULL JOIN (SELECT e.* FROM evaluations e JOIN responses r ON r.id = e.response_id
                       WHERE r.run_id = %s) e
                ON e.response_id = b.response_id AND e.evaluator_type = b.evaluator_type
            WHERE e.id IS NULL OR b.response_id IS NULL OR e.score <> b.score
               OR e.passed <> b.passed OR e.metrics <> b.metrics OR e.feedback <> b.feedback
            """,
            [run.pk],
        )
        return cursor.fetchone()[0]


def measure_pipeline(run: ModelRun, n: int, figures: dict) -> None:
    params = {
        "run": run.pk,
        "version": REGISTRY["label_match"].version,
        "params": json.dumps(validate_params("label_match", None)),
    }
    fresh_evaluations()
    with timed(figures, "sql_insert_select_s"):
        execute(SQL_BASELINE, params)
    execute("DROP TABLE IF EXISTS bench_baseline")
    execute("CREATE UNLOGGED TABLE bench_baseline AS SELECT * FROM evaluations")

    fresh_evaluations()
    with timed(figures, "pipeline_evaluate_run_s"):
        result = evaluate_run(run, ["label_match"])
    assert result.responses == n and result.evaluations == n
    figures["rows_differing_from_sql"] = differing_rows(run)
    execute("DROP TABLE bench_baseline")

    if env_int("BENCH_RESCORE", 0):  # scoring again (every row an ON CONFLICT update)
        with timed(figures, "pipeline_rescore_s"):
            evaluate_run(run, ["label_match"])
        assert Evaluation.objects.count() == n
        figures["pipeline_rescore_responses_per_s"] = round(n / figures["pipeline_rescore_s"])

    sql_s, pipe_s = figures["sql_insert_select_s"], figures["pipeline_evaluate_run_s"]
    figures["sql_responses_per_s"] = round(n / sql_s)
    figures["pipeline_responses_per_s"] = round(n / pipe_s)
    figures["pipeline_vs_sql"] = round(sql_s / pipe_s, 3)
    figures["goal_pipeline_vs_sql"] = GOAL
    figures["goal_met"] = sql_s / pipe_s >= GOAL


def examples(rng: random.Random) -> dict[str, list[tuple]]:
    """Per evaluator, (output, ground_truth, params) pairs of realistic size."""
    words = "the a model of an review river city founded traders mayor festival item".split()

    def sentence(k: int) -> str:
        return " ".join(rng.choice(words) + str(rng.randint(0, 30)) for _ in range(k))

    def text_pair() -> tuple:
        truth = sentence(20)
        kept = [w for w in truth.split() if rng.random() < 0.8] + sentence(3).split()
        return {"text": " ".join(kept)}, {"text": truth}

    def boxes(n: int, jitter: float) -> list[dict]:
        out = []
        for i in range(n):
            x, y = 20 * i, 10 * i
            d = rng.uniform(-jitter, jitter)
            out.append({"label": LABELS[i % 3], "bbox": [x + d, y + d, x + 40 + d, y + 30 - d]})
        return out

    def items(k: int) -> list[str]:
        return [f"item-{rng.randint(0, 60):03d}" for _ in range(k)]

    def series(k: int) -> list[float]:
        return [round(100 + rng.gauss(0, 10), 2) for _ in range(k)]

    def label_pair() -> tuple:
        label = rng.choice(LABELS)
        return {"label": rng.choice([label, *LABELS]), "confidence": 0.9}, {"label": label}

    makers = {
        "label_match": label_pair,
        "multilabel_f1": lambda: ({"labels": items(4)}, {"labels": items(4)}),
        "numeric_tolerance": lambda: ({"value": rng.gauss(100, 5)}, {"value": 100.0}),
        "forecast_error": lambda: ({"values": series(24)}, {"values": series(24)}),
        "text_normalized_match": text_pair,
        "token_f1": text_pair,
        "rouge_l": text_pair,
        "bleu": text_pair,
        "fuzzy_ratio": text_pair,
        "contains": text_pair,
        "regex": text_pair,
        "exact_match": lambda: ({"a": items(3), "b": {"c": 1}}, {"a": items(3), "b": {"c": 1}}),
        "json_schema": lambda: ({"total": 12.5, "vendor": "ACME"}, {}),
        "iou": lambda: ({"boxes": boxes(5, 4)}, {"boxes": boxes(5, 0)}),
        "ndcg_at_k": lambda: ({"ranking": items(10)}, {"relevant": items(5)}),
        "assertions": lambda: (text_pair()[0], {"assert": ASSERTIONS}),
    }
    return {name: [make() for _ in range(500)] for name, make in makers.items()}


ASSERTIONS = [
    {"type": "icontains", "value": "RIVER1"},
    {"type": "not_contains", "value": "mayor30"},
    {"type": "regex", "value": r"city\d+"},
    {"type": "numeric", "value": 8, "tolerance": 0.5, "weight": 2},
]
# Judged by a model (bench_judge.py) or needing an optional extra: not timed here.
NOT_PURE = ("llm_judge", "semantic_similarity")

PARAMS = {
    "contains": {"substrings": ["model"]},
    "regex": {"pattern": r"river\d+"},
    "json_schema": {
        "schema": {"type": "object", "required": ["total"], "properties": {"total": {}}}
    },
}


def measure_evaluators(figures: dict, seconds: float = 0.5) -> None:
    rates = {}
    pairs = examples(random.Random(6))
    missing = set(REGISTRY) - set(pairs) - set(NOT_PURE)
    assert not missing, f"no example data for {sorted(missing)}: add them to examples()"
    for name in pairs:
        params = validate_params(name, PARAMS.get(name))
        data = pairs[name]
        run_evaluator(name, *data[0], params)  # warm up: first calls import their libraries
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for output, truth in data:
                run_evaluator(name, output, truth, params)
            calls += len(data)
        rates[name] = round(calls / (time.perf_counter() - start))
    figures["pure_python_verdicts_per_s"] = dict(sorted(rates.items(), key=lambda kv: kv[1]))


def main() -> None:
    n = env_int("BENCH_RESPONSES", 1_000_000)
    figures: dict = {"responses": n, "evaluator": "label_match"}
    with timed(figures, "setup_s"):
        run = make_run(n)
    measure_pipeline(run, n, figures)
    measure_evaluators(figures)
    execute("TRUNCATE test_cases, model_runs CASCADE")
    figures["peak_memory_mb"] = peak_memory_mb()
    report("evaluate_run_label_match", figures)


if __name__ == "__main__":
    main()
