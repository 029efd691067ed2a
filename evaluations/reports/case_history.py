"""One case's verdict in every run, for the case page's history fragment."""

from __future__ import annotations

from django.db.models import F, Window
from django.db.models.functions import Lag

from evaluations.models import Evaluation
from evaluations.reports.common import run_summary
from mleval_site.db_router import reading_from_replica

__all__ = ["case_history"]


@reading_from_replica()
def case_history(case_id: int, limit: int | None = 200) -> list[dict]:
    """This case's verdict in every run, newest run first: each grader's own human verdict
    (``grader`` their username) after the graders' majority (``grader`` None).

    ``flipped`` marks a verdict whose pass/fail differs from the same evaluator's verdict in
    the previous run of the same model name (runs in registration order: consecutive
    versions); ``previous_version`` names that run's version. One query.
    """
    model_window = {
        "partition_by": [F("response__run__model_name"), F("evaluator_type"), F("grader")],
        "order_by": [F("response__run__created_at").asc(), F("response__run_id").asc()],
    }
    queryset = (
        Evaluation.objects.filter(response__test_case_id=case_id)
        .select_related("response__run__version", "grader")
        .annotate(
            previous_passed=Window(Lag("passed"), **model_window),
            previous_version=Window(Lag("response__run__model_version"), **model_window),
        )
        .order_by(
            "-response__run__created_at",
            "-response__run_id",
            "evaluator_type",
            F("grader__username").asc(nulls_first=True),
        )
    )
    if limit is not None:
        queryset = queryset[:limit]
    return [
        {
            "run": run_summary(verdict.response.run),
            "evaluator": verdict.evaluator_type,
            "grader": verdict.grader.get_username() if verdict.grader else None,
            "passed": verdict.passed,
            "score": verdict.score,
            "feedback": verdict.feedback,
            "output": verdict.response.output_data,
            "error": verdict.response.error_message,
            "previous_version": verdict.previous_version,
            "flipped": verdict.previous_passed is not None
            and verdict.previous_passed != verdict.passed,
        }
        for verdict in queryset
    ]
