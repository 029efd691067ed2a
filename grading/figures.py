"""The rows agreement is computed from (one SQL query each), and the figures, cached.

Everything starts from grading_items (small: only graded samples), joined to the human
verdict and the automatic verdicts of the same response through the evaluations' unique
(response, evaluator_type) index, so no query scans a run's million verdicts. A tie between
graders has no majority and is left out of an evaluator's agreement.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.db import connections

from evaluations.models import one_per_evaluator_sql
from evaluations.reports.common import rate
from grading import agreement
from grading.models import HUMAN, Assignment, GradingTask
from mleval_site.db_router import read_alias

CACHE_SECONDS = 24 * 3600
# The human verdict ``h`` is the graders' majority, not each grader's own row.
_PANEL = one_per_evaluator_sql("h")

_CALIBRATION_SQL = """
SELECT e.evaluator_type, e.passed, h.passed, gt.run_id
FROM grading_items gi
JOIN grading_tasks gt ON gt.id = gi.task_id
JOIN evaluations h ON h.response_id = gi.response_id AND h.evaluator_type = %(human)s
    AND {panel}
JOIN evaluations e ON e.response_id = gi.response_id AND e.evaluator_type <> %(human)s
WHERE NOT coalesce((h.metrics->>'tie')::boolean, false) {where}
"""

# Changes whenever any graded run's data does (its responses, their verdicts, human ones too):
# the summaries' per-run data versions, written by triggers on every such statement.
_FINGERPRINT_SQL = """
SELECT coalesce(sum(v.version), 0), count(*), coalesce(max(v.run_id), 0),
       (SELECT coalesce(max(id), 0) FROM grading_tasks)
FROM run_data_versions v
WHERE v.run_id IN (SELECT run_id FROM grading_tasks {where})
"""


def calibration_rows(
    *, run_id: int | None = None, task_id: int | None = None, evaluator: str | None = None
) -> list[tuple[str, bool, bool, int]]:
    """(evaluator, its passed, the graders' majority passed, run id) per graded response."""
    where, params = [], {"human": HUMAN}
    if run_id is not None:
        where.append("gt.run_id = %(run)s")
        params["run"] = run_id
    if task_id is not None:
        where.append("gi.task_id = %(task)s")
        params["task"] = task_id
    if evaluator is not None:
        where.append("e.evaluator_type = %(evaluator)s")
        params["evaluator"] = evaluator
    sql = _CALIBRATION_SQL.format(panel=_PANEL, where="".join(f" AND {w}" for w in where))
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _fingerprint(run_id: int | None = None) -> str:
    where, params = ("WHERE run_id = %s", [run_id]) if run_id is not None else ("", [])
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(_FINGERPRINT_SQL.format(where=where), params)
        return "-".join(map(str, cursor.fetchone()))


def evaluator_agreement(*, run_id=None, task_id=None) -> dict[str, dict]:
    """Each automatic evaluator against the graders' majority (run, task or everything)."""
    rows = calibration_rows(run_id=run_id, task_id=task_id)
    return agreement.evaluator_agreement((e, p, h) for e, p, h, _ in rows)


def report_block(run) -> dict[str, dict]:
    """The run report's `agreement` block: per evaluator {"n", "kappa", "kappa_ci95",
    "accuracy", "accuracy_ci95", "confusion"}; {} when nothing of the run is graded."""
    return evaluator_agreement(run_id=run.pk)


# From the run's grading items (only the graded sample), not its million verdicts.
_GRADERS_SQL = """
SELECT u.username, count(*), count(*) FILTER (WHERE e.passed), avg(e.score)
FROM grading_items gi
JOIN grading_tasks gt ON gt.id = gi.task_id
JOIN evaluations e ON e.response_id = gi.response_id AND e.evaluator_type = %(human)s
    AND e.grader_id IS NOT NULL
JOIN auth_user u ON u.id = e.grader_id
WHERE gt.run_id = %(run)s
GROUP BY u.username
ORDER BY u.username
"""


def graders_block(run) -> dict[str, dict]:
    """The run report's `graders` block: per grader (username) their own human verdicts on
    the run: {"count", "passed", "pass_rate", "mean_score"}; {} when nothing is graded."""
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(_GRADERS_SQL, {"human": HUMAN, "run": run.pk})
        rows = cursor.fetchall()
    return {
        name: {"count": n, "passed": passed, "pass_rate": rate(passed, n), "mean_score": mean}
        for name, n, passed, mean in rows
    }


def task_figures(task: GradingTask) -> dict:
    """A task's agreement between graders and of each evaluator with them, cached until a
    grade or a verdict of the run changes."""
    key = f"grading:task:{task.pk}:{_fingerprint(task.run_id)}"
    if (figures := cache.get(key)) is None:
        grades = (
            Assignment.objects.filter(item__task=task)
            .graded()
            .values_list("item_id", "grader__username", "passed", "score")
        )
        figures = {
            "graders": agreement.graders_agreement(grades),
            "evaluators": evaluator_agreement(task_id=task.pk),
        }
        cache.set(key, figures, CACHE_SECONDS)
    return figures


def evaluator_page_figures(evaluator: str) -> dict:
    """One evaluator against people: pooled over every graded run, and run by run."""
    name = hashlib.md5(evaluator.encode()).hexdigest()  # any text, a safe cache key
    key = f"grading:evaluator:{name}:{_fingerprint()}"
    if (figures := cache.get(key)) is None:
        rows = calibration_rows(evaluator=evaluator)
        by_run: dict[int, list] = {}
        for name, passed, human, run_id in rows:
            by_run.setdefault(run_id, []).append((name, passed, human))
        figures = {
            "pooled": agreement.evaluator_agreement((e, p, h) for e, p, h, _ in rows).get(
                evaluator
            ),
            "runs": {
                run_id: agreement.evaluator_agreement(run_rows)[evaluator]
                for run_id, run_rows in by_run.items()
            },
        }
        cache.set(key, figures, CACHE_SECONDS)
    return figures


def judge_trust(figures: dict | None) -> dict:
    """trusted / untrusted / unmeasured, from an evaluator's pooled agreement with people."""
    least = settings.MLEVAL_TRUST_MIN_GRADED
    floor = settings.MLEVAL_TRUST_MIN_KAPPA
    if not figures or figures["n"] < least:
        n = figures["n"] if figures else 0
        return {
            "status": "unmeasured",
            "n": n,
            "reason": f"graded by people on {n} response(s); trust needs {least}",
        }
    ci = figures["kappa_ci95"]
    low = ci[0] if ci else None
    base = {"n": figures["n"], "kappa": figures["kappa"], "kappa_low": low}
    if low is None or low < floor:
        shown = "undefined" if low is None else f"{low:.2f}"
        return {
            **base,
            "status": "untrusted",
            "reason": f"agreement with people too low: kappa lower bound {shown} < {floor} "
            f"on {figures['n']} responses",
        }
    return {
        **base,
        "status": "trusted",
        "reason": f"agrees with people: kappa lower bound {low:.2f} ≥ {floor} "
        f"on {figures['n']} responses",
    }


def all_trust() -> dict[str, dict]:
    """Every evaluator people have graded alongside, with its trust (cached as above)."""
    policy = f"{settings.MLEVAL_TRUST_MIN_KAPPA}:{settings.MLEVAL_TRUST_MIN_GRADED}"
    key = f"grading:trust:{_fingerprint()}:{policy}"
    if (trust := cache.get(key)) is None:
        rows = calibration_rows()
        pooled = agreement.evaluator_agreement((e, p, h) for e, p, h, _ in rows)
        trust = {name: judge_trust(figures) for name, figures in pooled.items()}
        cache.set(key, trust, CACHE_SECONDS)
    return trust


_DISAGREEMENTS_SQL = """
SELECT r.test_case_id, e.evaluator_type, e.passed, e.feedback, h.passed, h.feedback,
       r.output_data, tc.ground_truth
FROM grading_items gi
JOIN evaluations h ON h.response_id = gi.response_id AND h.evaluator_type = %(human)s
    AND {panel}
JOIN evaluations e ON e.response_id = gi.response_id AND e.evaluator_type <> %(human)s
JOIN responses r ON r.id = gi.response_id
JOIN test_cases tc ON tc.id = r.test_case_id
WHERE NOT coalesce((h.metrics->>'tie')::boolean, false) AND e.passed <> h.passed {where}
ORDER BY gi.task_id DESC, gi.position
LIMIT %(limit)s
"""


def disagreements(
    *, evaluator: str | None = None, task_id: int | None = None, limit: int = 200
) -> list[dict]:
    """Graded responses whose automatic verdict differs from the graders' majority."""
    where, params = [], {"human": HUMAN, "limit": limit}
    if evaluator:
        where.append("e.evaluator_type = %(evaluator)s")
        params["evaluator"] = evaluator
    if task_id is not None:
        where.append("gi.task_id = %(task)s")
        params["task"] = task_id
    sql = _DISAGREEMENTS_SQL.format(panel=_PANEL, where="".join(f" AND {w}" for w in where))
    with connections[read_alias()].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    keys = ("case_id", "evaluator", "passed", "feedback", "human_passed", "human_feedback")
    return [
        {
            **dict(zip(keys, row[:6], strict=True)),
            "output": _json(row[6]),
            "expected": _json(row[7]),
        }
        for row in rows
    ]


def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else value
