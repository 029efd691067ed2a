"""Two runs' verdicts paired by (test case, evaluator), in SQL: the one pairing that the
comparison's figures (:mod:`.comparison`) and its per-case rows (:mod:`.comparison_pages`)
both read, with its parameters and statement settings."""

from __future__ import annotations

from evaluations.models import ONE_PER_EVALUATOR
from runs.models import ModelRun
from runs.trials import trial_runs

__all__ = [
    "CHANGED_IN_VERSIONS",
    "CHANGE_KINDS",
    "COMPARISON_SETTINGS",
    "pairs_cte",
    "version_params",
]

#: Per-case comparison outcomes, in the order the per-case table lists them.
CHANGE_KINDS = ("regression", "improvement", "only_in_a", "only_in_b", "both_failed", "both_passed")

#: The memory per sort or hash of the statements pairing two runs (PostgreSQL's default is
#: 4 MB): the figures' first grouping then runs as one in-memory hash table and the joins of
#: both (figures and per-case list) spill less. Set for each statement only (SET LOCAL), no
#: JIT: compiling them costs more than it saves.
COMPARISON_SETTINGS = {"work_mem": "64MB", "jit": "off"}

# The two runs' verdicts paired by (test case, evaluator); one side is null where only one run
# has the verdict.
# Runs on two different golden-set versions (%(va)s, %(vb)s; null otherwise) pair only the
# cases whose content is the same in both: a case changed between them is left out.
CHANGED_IN_VERSIONS = """
    SELECT 1 FROM version_cases va
    JOIN version_cases vb ON vb.version_id = %(vb)s AND vb.case_id = va.case_id
    WHERE va.version_id = %(va)s AND va.revision <> vb.revision"""


# A side is one run's verdicts, or a trial group's (runs.trials): per case its trials' mean
# score, passed when most trials passed. Only the branch that applies runs (one-time filter).
# ``extra``: a further condition on the responses ``r`` (a page's range of case ids).
def _side(name: str, extra: str = "true") -> str:
    where = (
        f"NOT EXISTS ({CHANGED_IN_VERSIONS} AND va.case_id = r.test_case_id) AND {extra}"
        f" AND {ONE_PER_EVALUATOR}"
    )
    return f"""
    SELECT r.test_case_id, e.evaluator_type, e.passed, e.score
    FROM evaluations e JOIN responses r ON r.id = e.response_id
    WHERE cardinality(%({name}_runs)s::bigint[]) = 1 AND r.run_id = %({name})s AND {where}
    UNION ALL
    SELECT r.test_case_id, e.evaluator_type, avg(e.passed::int) > 0.5, avg(e.score)
    FROM evaluations e JOIN responses r ON r.id = e.response_id
    WHERE cardinality(%({name}_runs)s::bigint[]) > 1 AND r.run_id = ANY(%({name}_runs)s)
      AND {where}
    GROUP BY 1, 2"""


def pairs_cte(extra: str = "true") -> str:
    """The ``pairs`` CTE: both sides' verdicts (responses where ``extra`` holds) paired."""
    return f"""
WITH a AS ({_side("a", extra)}
), b AS ({_side("b", extra)}
), pairs AS (
    SELECT coalesce(a.evaluator_type, b.evaluator_type) AS evaluator,
           coalesce(a.test_case_id, b.test_case_id) AS test_case_id,
           a.passed AS a_passed, b.passed AS b_passed, a.score AS a_score, b.score AS b_score,
           b.score - a.score AS delta,
           CASE WHEN a.passed AND NOT b.passed THEN 0
                WHEN NOT a.passed AND b.passed THEN 1
                WHEN b.passed IS NULL THEN 2
                WHEN a.passed IS NULL THEN 3
                WHEN NOT a.passed THEN 4
                ELSE 5 END AS change
    FROM a FULL JOIN b
      ON a.test_case_id = b.test_case_id AND a.evaluator_type = b.evaluator_type
)
"""


def version_params(run_a: ModelRun, run_b: ModelRun) -> dict:
    """The two versions whose changed cases are left out of the pairs, when there are two;
    and each side's runs: the run, or its trial group (paired by per-case mean scores)."""
    both = run_a.version_id and run_b.version_id and run_a.version_id != run_b.version_id
    return {
        "va": run_a.version_id if both else None,
        "vb": run_b.version_id if both else None,
        "a_runs": [member.pk for member in trial_runs(run_a)],
        "b_runs": [member.pk for member in trial_runs(run_b)],
    }
