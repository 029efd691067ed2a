"""Human grading at size: sampling a big run, grading, and the agreement figures.

    make bench
    BENCH_GRADING_RESPONSES=200000 BENCH_GRADING_SAMPLE=5000 python benchmarks/bench_grading.py

1. A run of BENCH_GRADING_RESPONSES answered responses, each with an llm_judge verdict, in
   four categories. A task samples BENCH_GRADING_SAMPLE of them stratified by the judge's
   verdict and the category, dealt to three graders with an overlap of two (goal: under 5 s).
2. Every assignment graded through grading.verdicts.record_grade (the page's and the API's
   path: the grade and the response's human verdict in one transaction): grades per second.
3. The task's agreement (alpha, pairwise kappa, the judge against the majority, each with its
   2,000-resample bootstrap) cold and cached, the run report's agreement block, and the query
   counts of the task page and the grading page (goal: bounded, not growing with the sample).

Prints one JSON document. It writes its own rows and deletes them at the end.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import env_int, report, timed  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.roles import GRADER, sync_roles  # noqa: E402
from cases.models import TestCase  # noqa: E402
from evaluations.models import Evaluation  # noqa: E402
from grading.assigning import create_task  # noqa: E402
from grading.figures import report_block, task_figures  # noqa: E402
from grading.models import Assignment  # noqa: E402
from grading.verdicts import record_grade  # noqa: E402
from runs.models import ModelRun, Response  # noqa: E402

BATCH = 5000


def build_run(size: int) -> ModelRun:
    run = ModelRun.objects.create(
        model_name="bench-grading", model_version="1", model_type="llm", status="completed"
    )
    for start in range(0, size, BATCH):
        stop = min(size, start + BATCH)
        cases = TestCase.objects.bulk_create(
            TestCase(
                input_data={"text": f"question {i}"},
                input_type="text",
                ground_truth={"text": f"answer {i}"},
                output_type="text",
                model_type="llm",
                category=f"c{i % 4}",
                metadata={"bench": "grading"},
            )
            for i in range(start, stop)
        )
        responses = Response.objects.bulk_create(
            Response(run=run, test_case=case, output_data={"text": f"reply {i}"})
            for i, case in zip(range(start, stop), cases, strict=True)
        )
        Evaluation.objects.bulk_create(
            Evaluation(
                response=response,
                evaluator_type="llm_judge",
                score=float(i % 3 != 0),
                passed=i % 3 != 0,
            )
            for i, response in zip(range(start, stop), responses, strict=True)
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE test_cases; ANALYZE responses; ANALYZE evaluations")
    return run


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200, url
    return len(captured)


def main() -> None:
    size = env_int("BENCH_GRADING_RESPONSES", 20_000)
    sample = env_int("BENCH_GRADING_SAMPLE", 2_000)
    figures: dict = {"responses": size, "sample": sample, "graders": 3, "overlap": 2}
    sync_roles(__import__("django.apps", fromlist=["apps"]).apps)
    graders = []
    for name in ("bench-g1", "bench-g2", "bench-g3"):
        user, _ = User.objects.get_or_create(username=name)
        user.groups.add(Group.objects.get(name=GRADER))
        graders.append(user)
    with timed(figures, "build_run_s"):
        run = build_run(size)
    try:
        with timed(figures, "create_task_s"):
            task = create_task(
                run, name="bench", graders=graders, overlap=2, n=sample,
                evaluator="llm_judge", slice_by="category", seed=1,
            )  # fmt: skip
        assignments = list(Assignment.objects.filter(item__task=task).select_related("item"))
        judge = dict(
            Evaluation.objects.filter(
                response__grading_item__task=task, evaluator_type="llm_judge"
            ).values_list("response_id", "passed")
        )
        start = time.perf_counter()
        for a in assignments:  # each grader follows the judge, except on one response in ten
            differs = (a.item.response_id * 7 + a.grader_id) % 10 == 0
            record_grade(a, passed=judge[a.item.response_id] != differs)
        seconds = time.perf_counter() - start
        figures["grades"] = len(assignments)
        figures["grades_per_s"] = round(len(assignments) / seconds, 1)
        cache.clear()
        with timed(figures, "task_agreement_cold_s"):
            computed = task_figures(task)
        with timed(figures, "task_agreement_cached_s"):
            task_figures(task)
        with timed(figures, "report_agreement_block_s"):
            block = report_block(run)
        figures["alpha"] = computed["graders"]["alpha"]
        figures["judge_kappa"] = block["llm_judge"]["kappa"]
        figures["judge_n"] = block["llm_judge"]["n"]
        client = Client()
        client.force_login(graders[0])
        task_figures(task)  # cached, as a second visitor sees it
        figures["task_page_queries"] = queries(client, f"/grading/tasks/{task.pk}/")
        figures["grade_page_queries"] = queries(client, f"/grading/tasks/{task.pk}/grade/1/")
        figures["queue_page_queries"] = queries(client, "/grading/")
    finally:
        ModelRun.objects.filter(pk=run.pk).delete()
        TestCase.objects.filter(metadata__bench="grading").delete()
    report("grading", figures)


if __name__ == "__main__":
    main()
